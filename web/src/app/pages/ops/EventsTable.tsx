/* The event browser's rows: one event a row, newest first, its sequence opening its detail. */

import { Link } from "react-router";

import { bytes, shortId, instant } from "../../features/ops/logic";
import type { OpsEvent } from "../../features/ops/types";
import { DataTable } from "../../../shared/table";

export function EventsTable({ events }: { events: readonly OpsEvent[] }) {
  return (
    <DataTable label="Events table" caption="Events, newest first" columns={["Seq", "Stored", "Type", "Subject", "Tenant", "Run", "Size"]}>
      {events.map((e) => (
        <tr key={e.seq}>
          <th scope="row">
            <Link to={`/ops/events/${e.seq}`} aria-label={`Event ${e.seq}`}>
              #{e.seq}
            </Link>
          </th>
          <td>{instant(e.stored_at)}</td>
          <td>{e.malformed ? <span className="bad">malformed</span> : (e.type ?? "—")}</td>
          <td>
            <code>{e.subject}</code>
          </td>
          <td title={e.tenant_id ?? undefined}>{shortId(e.tenant_id)}</td>
          <td>
            {e.run_id ? (
              <Link to={`/ops/runs/${encodeURIComponent(e.run_id)}`} title={e.run_id}>
                {shortId(e.run_id, 8)}
              </Link>
            ) : (
              "—"
            )}
          </td>
          <td>{bytes(e.size)}</td>
        </tr>
      ))}
    </DataTable>
  );
}
