/* /ops/consumers: every durable consumer, how much it owes, and how far behind it is in time. */

import { OpsPage, NotOperator, ReadAgain, Reading, useOpsRead } from "../../features/ops/components/OpsPage";
import { duration, lagText, instant } from "../../features/ops/logic";
import type { OpsConsumer } from "../../features/ops/types";
import { DataTable } from "../../../shared/table";

export function OpsConsumersPage() {
  const read = useOpsRead<{ consumers: OpsConsumer[]; read_at: string }>("/v1/ops/consumers");
  if (read.forbidden) return <NotOperator />;
  const consumers = read.data?.consumers ?? [];
  return (
    <OpsPage title="Consumers">
      <Reading what="The consumers" read={read} />
      {read.data ? <p className="muted">Lag is the age of the oldest message a consumer still owes, at {instant(read.data.read_at)}.</p> : null}
      {read.data && !consumers.length ? <p className="muted">No durable consumer yet.</p> : null}
      {consumers.length ? (
        <DataTable label="Consumers table" caption="Durable consumers of every stream" columns={["Consumer", "Service", "Pending", "Ack pending", "Redelivered", "Last activity", "Lag"]}>
          {consumers.map((c) => (
            <tr key={`${c.stream}/${c.name}`} className={c.lag_s ? "behind" : undefined}>
              <th scope="row">
                {c.name}
                <div className="muted">
                  {c.stream} · {c.filter_subjects.join(", ") || "every subject"}
                </div>
              </th>
              <td>{c.service ?? "—"}</td>
              <td>{c.pending.toLocaleString()}</td>
              <td>{c.ack_pending.toLocaleString()}</td>
              <td>{c.redelivered.toLocaleString()}</td>
              <td>
                {instant(c.delivered_at)}
                <div className="muted">
                  delivered #{c.delivered_seq.toLocaleString()}, acked to #{c.ack_floor_seq.toLocaleString()}
                </div>
              </td>
              <td>
                {lagText(c.lag_s)}
                {c.oldest_pending_seq !== null ? <div className="muted">oldest owed #{c.oldest_pending_seq.toLocaleString()}</div> : null}
                <div className="muted">ack wait {duration(c.ack_wait_s)}</div>
              </td>
            </tr>
          ))}
        </DataTable>
      ) : null}
      <ReadAgain read={read} />
    </OpsPage>
  );
}
