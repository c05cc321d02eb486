/* /ops/runs/:runId: every event of one run across the services, in the order the stream stored
 * them, with the time that passed before each: where a run waited, and on whom. */

import { Link, useParams } from "react-router";

import { CostPanel } from "../../features/run/components/CostPanel";
import { NotOperator, OpsPage, Reading, useOpsRead } from "../../features/ops/components/OpsPage";
import { duration, shortId, instant } from "../../features/ops/logic";
import type { Correlation } from "../../features/ops/types";
import { TableHead } from "../../../shared/table";

// A gap this long is marked: a run step that waited on a worker, an approval, or an outage.
const LONG_GAP_S = 30;

export function OpsRunPage() {
  const { runId = "" } = useParams();
  const read = useOpsRead<Correlation>(runId ? `/v1/ops/runs/${encodeURIComponent(runId)}/events` : null);
  if (read.forbidden) return <NotOperator />;
  const found = read.data;
  const events = found?.events ?? [];
  const total = events.reduce((sum, e) => sum + (e.gap_s ?? 0), 0);
  return (
    <OpsPage title={`Run ${shortId(runId, 13)}`}>
      <p>
        <code>{runId}</code> · <Link to={`/ops/events?run=${encodeURIComponent(runId)}`}>Browse its events with filters</Link>
      </p>
      <Reading what="The run's events" read={read} />
      {found && !events.length ? <p>No event of this run is in the stream or the gateway&apos;s log.</p> : null}
      {events.length ? (
        <>
          <p className="muted">
            {events.length.toLocaleString()} events over {duration(total)}, through {found?.domains.join(", ") || "—"}.
          </p>
          <div className="table-wrap" role="region" aria-label="Run events table" tabIndex={0}>
            <table>
              <TableHead caption="The run's events in stored order" columns={["#", "Gap before", "Type", "Subject", "Stored", "Stream seq"]} />
              <tbody>
                {events.map((e, i) => (
                  <tr key={`${String(i)}-${e.event_id ?? ""}`} className={(e.gap_s ?? 0) >= LONG_GAP_S ? "long-gap" : undefined}>
                    <th scope="row">{i + 1}</th>
                    <td>{e.gap_s === null ? "first" : `+${duration(e.gap_s)}`}</td>
                    <td>{e.malformed ? "malformed" : (e.type ?? "—")}</td>
                    <td>
                      <code>{e.subject ?? "—"}</code>
                    </td>
                    <td>{instant(e.stored_at ?? e.occurred_at)}</td>
                    <td>
                      {e.seq !== null && e.in_stream ? (
                        <Link to={`/ops/events/${e.seq}`} aria-label={`Event ${e.seq}`}>
                          #{e.seq}
                        </Link>
                      ) : (
                        <span className="muted">no longer in the stream</span>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        </>
      ) : null}
      {/* Read again when more of the run's events are shown, as the workspace's inspector does. */}
      {runId ? <CostPanel base={`/v1/ops/runs/${encodeURIComponent(runId)}`} lastSeq={events.length} /> : null}
    </OpsPage>
  );
}
