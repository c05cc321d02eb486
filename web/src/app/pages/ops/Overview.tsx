/* /ops: where each part of the console is, and a run's correlation view by its id. */

import { useId, useState, type SyntheticEvent } from "react";
import { Link, useNavigate } from "react-router";

import { LabelledInput } from "../../components/ui/form";
import { OpsPage } from "../../features/ops/components/OpsPage";

const PARTS = [
  ["/ops/streams", "Streams", "Each JetStream stream: subjects, messages, bytes, first and last message, limits, replicas."],
  ["/ops/consumers", "Consumers", "Each durable consumer: pending, waiting for an ack, redelivered, last activity, lag."],
  ["/ops/events", "Events", "The event stream newest first, filtered, paged by sequence, or tailed live."],
  ["/ops/deadletters", "Dead letters", "What a service gave up on, and why; redrive or discard (platform admins)."],
] as const;

export function OpsOverviewPage() {
  const ids = useId();
  const navigate = useNavigate();
  const [run, setRun] = useState("");

  function openRun(event: SyntheticEvent) {
    event.preventDefault();
    const id = run.trim();
    if (id) void navigate(`/ops/runs/${encodeURIComponent(id)}`);
  }

  return (
    <OpsPage title="Operations">
      <ul className="ops-parts">
        {PARTS.map(([to, label, what]) => (
          <li key={to} className="card">
            <h2>
              <Link to={to}>{label}</Link>
            </h2>
            <p>{what}</p>
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
