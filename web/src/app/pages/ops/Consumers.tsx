/* /ops/consumers: every durable consumer, how much it owes, how far behind it is in time, and
 * (on demand, one consumer at a time or more) how that lag went over the last hours. */

import { Fragment, useState } from "react";

import { ConsumerTrend } from "../../features/ops/components/ConsumerTrend";
import { OpsPage, NotOperator, ReadAgain, Reading, useOpsRead } from "../../features/ops/components/OpsPage";
import { duration, lagText, instant } from "../../features/ops/logic";
import type { OpsConsumer } from "../../features/ops/types";
import { DataTable } from "../../../shared/table";

export function OpsConsumersPage() {
  const read = useOpsRead<{ consumers: OpsConsumer[]; read_at: string }>("/v1/ops/consumers");
  const [shown, setShown] = useState<ReadonlySet<string>>(new Set());
  const toggle = (key: string) => {
    setShown((was) => {
      const now = new Set(was);
      if (now.has(key)) now.delete(key);
      else now.add(key);
      return now;
    });
  };
  if (read.forbidden) return <NotOperator />;
  const consumers = read.data?.consumers ?? [];
  return (
    <OpsPage title="Consumers">
      <Reading what="The consumers" read={read} />
      {read.data ? <p className="muted">Lag is the age of the oldest message a consumer still owes, at {instant(read.data.read_at)}.</p> : null}
      {read.data && !consumers.length ? <p className="muted">No durable consumer yet.</p> : null}
      {consumers.length ? (
        <DataTable label="Consumers table" caption="Durable consumers of every stream" columns={["Consumer", "Service", "Pending", "Ack pending", "Redelivered", "Last activity", "Lag", "Trend"]}>
          {consumers.map((c) => {
            const key = `${c.stream}/${c.name}`;
            const open = shown.has(key);
            return (
              <Fragment key={key}>
                <tr className={c.lag_s ? "behind" : undefined}>
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
                  <td>
                    <button
                      type="button"
                      className="link-button"
                      aria-expanded={open}
                      // Named in full for a screen reader's list of buttons; not a visually hidden
                      // span, which as an absolute box would escape the table's scrolling region.
                      aria-label={`${open ? "Hide" : "Show"} trend of ${c.name}`}
                      onClick={() => {
                        toggle(key);
                      }}
                    >
                      {open ? "Hide trend" : "Show trend"}
                    </button>
                  </td>
                </tr>
                {open ? (
                  <tr className="trend-row">
                    <td colSpan={8}>
                      <ConsumerTrend stream={c.stream} name={c.name} />
                    </td>
                  </tr>
                ) : null}
              </Fragment>
            );
          })}
        </DataTable>
      ) : null}
      <ReadAgain read={read} />
    </OpsPage>
  );
}
