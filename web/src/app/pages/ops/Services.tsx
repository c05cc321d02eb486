/* /ops/services: every service of the platform from its instances' heartbeats: how many are
 * alive, when one last beat, their health, and how often instances started and restarted. */

import { NotOperator, OpsPage, ReadAgain, Reading, useOpsRead } from "../../features/ops/components/OpsPage";
import { healthText, instanceText, restartsText, serviceStateText } from "../../features/ops/health";
import type { ServiceList } from "../../features/ops/health-types";
import { duration, instant, shortId } from "../../features/ops/logic";
import { DataTable } from "../../../shared/table";

export function OpsServicesPage() {
  const read = useOpsRead<ServiceList>("/v1/ops/services");
  if (read.forbidden) return <NotOperator />;
  const services = read.data?.services ?? [];
  return (
    <OpsPage title="Services">
      <Reading what="The services" read={read} />
      {read.data ? (
        <p className="muted">
          Each instance writes a heartbeat with its health; one silent for three of its intervals is stale. Starts and restarts over the last{" "}
          {duration(read.data.window_s)}, read at {instant(read.data.read_at)}.
        </p>
      ) : null}
      {services.length ? (
        <DataTable label="Services table" caption="Services and their instances" columns={["Service", "State", "Last heartbeat", "Restarts", "Instances"]}>
          {services.map((s) => (
            <tr key={s.service} className={s.state === "up" ? undefined : "behind"}>
              <th scope="row">{s.service}</th>
              <td>
                <strong>{serviceStateText(s)}</strong>
              </td>
              <td>{instant(s.last_heartbeat)}</td>
              <td>
                {restartsText(s, read.data?.window_s ?? 86400)}
                {s.gone ? <div className="muted">{s.gone} gone (stopped or silent)</div> : null}
              </td>
              <td>
                {s.instances.length ? (
                  <ul className="instances">
                    {s.instances.map((i) => (
                      <li key={i.instance}>
                        <span title={i.instance}>{shortId(i.instance, 8)}</span>: {instanceText(i)}
                        <div className="muted">
                          started {instant(i.started_at)}
                          {i.reasons.length ? ` · ${healthText(i.health)}: ${i.reasons.join("; ")}` : ""}
                        </div>
                      </li>
                    ))}
                  </ul>
                ) : (
                  <span className="muted">none heard in the window</span>
                )}
              </td>
            </tr>
          ))}
        </DataTable>
      ) : null}
      <ReadAgain read={read} />
    </OpsPage>
  );
}
