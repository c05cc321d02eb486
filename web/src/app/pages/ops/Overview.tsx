/* /ops: where each part of the console is, and a run's correlation view by its id. */

import { useId, useState, type SyntheticEvent } from "react";
import { Link, useNavigate } from "react-router";

import { LabelledInput } from "../../components/ui/form";
import { NotOperator, OpsPage, useOpsRead } from "../../features/ops/components/OpsPage";
import { opsAccess } from "../../features/ops/logic";
import type { DeadLetterPage, OpsConsumer } from "../../features/ops/types";
import { useSession } from "../../session";

const PARTS = [
  ["/ops/streams", "Streams", "Each JetStream stream: subjects, messages, bytes, first and last message, limits, replicas."],
  ["/ops/consumers", "Consumers", "Each durable consumer: pending, waiting for an ack, redelivered, last activity, lag and its trend."],
  ["/ops/services", "Services", "Each service: instances alive, last heartbeat, health, restarts in the last day."],
  ["/ops/events", "Events", "The event stream newest first, filtered, paged by sequence, or tailed live."],
  ["/ops/deadletters", "Dead letters", "What a service gave up on, and why; redrive or discard (platform admins)."],
] as const;
// Shown to those holding their permission only (platform admins).
const ADMIN_PARTS = [
  ["/ops/replays", "Replays", "Rebuild the read models from the event log into scratch tables and compare.", "replay"],
  ["/ops/audit", "Audit log", "Grants, revocations and every use of the console, newest first.", "audit"],
] as const;

export function OpsOverviewPage() {
  const ids = useId();
  const navigate = useNavigate();
  const access = opsAccess(useSession().me);
  const parts = [...PARTS, ...ADMIN_PARTS.filter((part) => access[part[3]])];
  const [run, setRun] = useState("");
  const consumers = useOpsRead<{ consumers: OpsConsumer[] }>("/v1/ops/consumers");
  const letters = useOpsRead<DeadLetterPage>("/v1/ops/deadletters?limit=200");
  const glance: Record<string, string> = {
    "/ops/consumers": consumers.data ? behindText(consumers.data.consumers) : "",
    "/ops/deadletters": letters.data ? openText(letters.data) : "",
  };

  function openRun(event: SyntheticEvent) {
    event.preventDefault();
    const id = run.trim();
    if (id) void navigate(`/ops/runs/${encodeURIComponent(id)}`);
  }

  if (consumers.forbidden || letters.forbidden) return <NotOperator />;
  return (
    <OpsPage title="Operations">
      <ul className="ops-parts">
        {parts.map(([to, label, what]) => (
          <li key={to} className="card">
            <h2>
              <Link to={to}>{label}</Link>
            </h2>
            <p>{what}</p>
            {glance[to] ? <p className="glance">{glance[to]}</p> : null}
          </li>
        ))}
      </ul>
      <section aria-labelledby={`${ids}-h`} className="card">
        <h2 id={`${ids}-h`}>A run across services</h2>
        <form className="inline-form" onSubmit={openRun}>
          <LabelledInput
            id={`${ids}-run`}
            label="Run id"
            value={run}
            maxLength={128}
            required
            onChange={setRun}
            hint="Every event of the run, from every service, in the order stored, with the gaps between."
          />
          <button type="submit">Show its events</button>
        </form>
      </section>
    </OpsPage>
  );
}

function behindText(consumers: readonly OpsConsumer[]): string {
  const behind = consumers.filter((c) => c.lag_s !== null && c.lag_s > 0).length;
  return behind ? `Now: ${String(behind)} of ${String(consumers.length)} behind.` : `Now: all ${String(consumers.length)} caught up.`;
}

function openText(page: DeadLetterPage): string {
  const n = page.letters.length;
  if (!n) return "Now: none open.";
  return `Now: ${String(n)}${page.next_before ? "+" : ""} open.`;
}
