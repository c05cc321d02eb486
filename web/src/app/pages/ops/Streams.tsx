/* /ops/streams: every JetStream stream as JetStream reports it now. */

import { OpsPage, NotOperator, ReadAgain, Reading, useOpsRead } from "../../features/ops/components/OpsPage";
import { bytes, limitsText, instant } from "../../features/ops/logic";
import type { OpsStream } from "../../features/ops/types";
import { DataTable } from "../../../shared/table";

export function OpsStreamsPage() {
  const read = useOpsRead<{ streams: OpsStream[] }>("/v1/ops/streams");
  if (read.forbidden) return <NotOperator />;
  const streams = read.data?.streams ?? [];
  return (
    <OpsPage title="Streams">
      <Reading what="The streams" read={read} />
      {read.data && !streams.length ? <p className="muted">No stream yet.</p> : null}
      {streams.length ? (
        <DataTable label="Streams table" caption="JetStream streams" columns={["Stream", "Subjects", "Messages", "Bytes", "First", "Last", "Limits", "Replicas"]}>
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
              <td>{s.messages ? <SeqAt seq={s.first_seq} at={s.first_at} /> : "empty"}</td>
              <td>{s.last_seq ? <SeqAt seq={s.last_seq} at={s.last_at} /> : "none yet"}</td>
              <td>{limitsText(s.limits)}</td>
              <td>{s.replicas}</td>
            </tr>
          ))}
        </DataTable>
      ) : null}
      <ReadAgain read={read} />
    </OpsPage>
  );
}

function SeqAt({ seq, at }: { seq: number; at: string | null }) {
  return (
    <>
      #{seq.toLocaleString()}
      <div className="muted">{instant(at)}</div>
    </>
  );
}
