/* /ops/replays/:replayId: one replay's report: the read models' counts live and rebuilt, how long
 * the rebuild and the comparison took, and the differences found. Differences hold read-model
 * values, which are tenant data: text nodes only. */

import { useParams } from "react-router";

import { Facts } from "../../components/ui/form";
import { NotOperator, OpsPage, Reading, useOpsRead } from "../../features/ops/components/OpsPage";
import { usePollWhile } from "../../features/ops/hooks/use-poll-while";
import { boundedText, duration, instant } from "../../features/ops/logic";
import { countRows, POLL_MS, progressText, stateText } from "../../features/ops/replays";
import type { Replay, ReplayReport } from "../../features/ops/types";
import { DataTable } from "../../../shared/table";

const MAX_DIFFERENCE_CHARS = 2_000;

/** Mounted only for platform admins (`RequireOpsAdmin` in the routes). */
export function OpsReplayPage() {
  const { replayId = "" } = useParams();
  const valid = /^[0-9a-f]{32}$/.test(replayId);
  const read = useOpsRead<Replay>(valid ? `/v1/ops/replays/${replayId}` : null);
  const replay = read.data;
  const running = replay?.state === "running";
  usePollWhile(running, read.reload, POLL_MS);

  if (read.forbidden) return <NotOperator />;
  return (
    <OpsPage title={`Replay ${replayId.slice(0, 8)}`} back={{ to: "/ops/replays", label: "All replays" }}>
      {valid ? <Reading what="The replay" read={read} /> : <p role="alert">A replay is named by its id: 32 hexadecimal digits.</p>}
      {replay ? (
        <>
          <Facts
            facts={[
              ["State", stateText(replay.state)],
              ["Replay id", <code key="id">{replay.replay_id}</code>],
              ["Asked by", replay.requested_by],
              ["Started", instant(replay.started_at)],
              ["Finished", instant(replay.finished_at)],
              ["Stream messages", `#${replay.first_seq.toLocaleString()} to #${replay.last_seq.toLocaleString()}`],
              ["Progress", progressText(replay)],
            ]}
          />
          {replay.report ? <ReportView report={replay.report} /> : <p className="muted">{running ? "The report comes when the replay ends." : "This replay left no report."}</p>}
        </>
      ) : null}
    </OpsPage>
  );
}

function ReportView({ report }: { report: ReplayReport }) {
  const shown = report.differences.map((line) => boundedText(line, MAX_DIFFERENCE_CHARS).text);
  return (
    <>
      <h2>Report</h2>
      {report.error ? <p role="alert" className="reason">{`The replay failed: ${report.error}`}</p> : null}
      <Facts
        facts={[
          ["Verdict", report.identical ? "identical: the rebuild matches the live read models" : `${report.difference_count.toLocaleString()} differences`],
          ["Events applied", report.applied.toLocaleString()],
          ["Unparsable, skipped", report.unparsable.toLocaleString()],
          ["Rebuild", duration(report.rebuild_s)],
          ["Comparison", duration(report.compare_s)],
        ]}
      />
      <DataTable label="Counts table" caption="Rows of each read model, live and rebuilt" columns={["Read model", "Live", "Rebuilt", "Same"]}>
        {countRows(report).map((row) => (
          <tr key={row.model}>
            <th scope="row">{row.model}</th>
            <td>{row.live.toLocaleString()}</td>
            <td>{row.rebuilt.toLocaleString()}</td>
            <td>{row.same ? "yes" : "no"}</td>
          </tr>
        ))}
      </DataTable>
      <h2>Differences</h2>
      {shown.length ? (
        <>
          <div className="payload" role="region" aria-label="Differences" tabIndex={0}>
            <pre>{shown.join("\n")}</pre>
          </div>
          {report.difference_count > shown.length ? (
            <p className="hint">
              The first {shown.length.toLocaleString()} of {report.difference_count.toLocaleString()} differences.
            </p>
          ) : null}
        </>
      ) : (
        <p>None.</p>
      )}
    </>
  );
}
