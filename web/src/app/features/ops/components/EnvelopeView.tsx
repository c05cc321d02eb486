/* One event as an operator inspects it: the envelope's facts, its NATS headers, and the payload.
 * Headers and payload are tenant data: text nodes only, the payload cut to a bounded length. */

import { Link } from "react-router";

import { Facts } from "../../../components/ui/form";
import { TableHead } from "../../../../shared/table";
import { boundedText, bytes, instant } from "../logic";
import type { Envelope } from "../types";

const MAX_PAYLOAD_CHARS = 20_000;
const MAX_HEADER_CHARS = 2_000;

export function EnvelopeFacts({ envelope }: { envelope: Envelope }) {
  return (
    <Facts
      facts={[
        ["Event id", <code key="id">{envelope.event_id ?? "—"}</code>],
        ["Type", envelope.type ?? "—"],
        ["Schema version", envelope.schema_version ?? "—"],
        ["Occurred", instant(envelope.occurred_at)],
        ["Tenant", envelope.tenant_id ?? "—"],
        [
          "Run",
          envelope.run_id ? <Link to={`/ops/runs/${encodeURIComponent(envelope.run_id)}`}>{envelope.run_id}</Link> : "—",
        ],
        ["Caused by", envelope.causation_id ?? "—"],
        ["Actor", [envelope.actor_user_id, envelope.actor_agent].filter(Boolean).join(" via ") || "—"],
        ["Size", bytes(envelope.size)],
        ["Payload size", bytes(envelope.payload_size)],
      ]}
    />
  );
}

export function HeadersTable({ headers }: { headers: Record<string, string> }) {
  const entries = Object.entries(headers);
  if (!entries.length) return <p className="muted">No headers.</p>;
  return (
    <div className="table-wrap" role="region" aria-label="Headers table" tabIndex={0}>
      <table>
        <TableHead caption="The message's NATS headers" columns={["Header", "Value"]} />
        <tbody>
          {entries.map(([name, value]) => (
            <tr key={name}>
              <th scope="row">
                <code>{name}</code>
              </th>
              <td>
                <code>{boundedText(value, MAX_HEADER_CHARS).text}</code>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

export function PayloadBlock({ envelope, payloads }: { envelope: Envelope; payloads: boolean }) {
  if (envelope.malformed) {
    return <p>The message is no JSON object: it has no envelope or payload to show.</p>;
  }
  if (!payloads) {
    return <p className="muted">Payloads are tenant data, shown to platform admins only.</p>;
  }
  if (envelope.payload === null || envelope.payload === undefined) return <p className="muted">No payload.</p>;
  const shown = boundedText(envelope.payload, MAX_PAYLOAD_CHARS);
  return (
    <>
      <div className="payload" role="region" aria-label="Payload" tabIndex={0}>
        <pre>{shown.text}</pre>
      </div>
      {shown.cut ? <p className="hint">Cut: {shown.cut.toLocaleString()} more characters not shown.</p> : null}
    </>
  );
}

/** The envelope, headers and payload under their headings (level 2). */
export function EnvelopeView({ envelope, payloads }: { envelope: Envelope; payloads: boolean }) {
  return (
    <>
      <h2>Envelope</h2>
      <EnvelopeFacts envelope={envelope} />
      <h2>Headers</h2>
      <HeadersTable headers={envelope.headers} />
      <h2>Payload</h2>
      <PayloadBlock envelope={envelope} payloads={payloads} />
    </>
  );
}
