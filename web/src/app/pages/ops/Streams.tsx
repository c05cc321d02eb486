/* /ops/streams: every JetStream stream as JetStream reports it now. */

import { OpsPage, NotOperator, Reading, useOpsRead } from "../../features/ops/components/OpsPage";
import { bytes, limitsText } from "../../features/ops/logic";
import type { OpsStream } from "../../features/ops/types";
import { when } from "../../format";
import { TableHead } from "../../../shared/table";

export function OpsStreamsPage() {
  const read = useOpsRead<{ streams: OpsStream[] }>("/v1/ops/streams");
  if (read.forbidden) return <NotOperator />;
  const streams = read.data?.streams ?? [];
  return (
    <OpsPage title="Streams">
      <Reading what="The streams" read={read} />
      {read.data && !streams.length ? <p className="muted">No stream yet.</p> : null}
      {streams.length ? (
        <div className="table-wrap" role="region" aria-label="Streams table" tabIndex={0}>
          <table>
            <TableHead
              caption="JetStream streams"
              columns={["Stream", "Subjects", "Messages", "Bytes", "First", "Last", "Limits", "Replicas"]}
            />
            <tbody>
              {streams.map((s) => (
                <tr key={s.name}>
                  <th scope="row">{s.name}</th>
                  <td>
                    {s.subjects.map((subject) => (
                      <code key={subject} className="chip">
                        {subject}
                      </code>
                    ))}
                  </td>
                  <td>
                    {s.messages.toLocaleString()}
                    {s.deleted ? <div className="muted">{s.deleted.toLocaleString()} deleted</div> : null}
                  </td>
                  <td>{bytes(s.bytes)}</td>
                  <td>
                    #{s.first_seq.toLocaleString()}
                    <div className="muted">{when(s.first_at)}</div>
                  </td>
                  <td>
                    #{s.last_seq.toLocaleString()}
                    <div className="muted">{when(s.last_at)}</div>
                  </td>
                  <td>{limitsText(s.limits)}</td>
                  <td>{s.replicas}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {read.data ? (
        <button type="button" className="link-button" onClick={() => void read.reload()}>
          Read again
        </button>
      ) : null}
    </OpsPage>
  );
}
