import { useEffect, useId, useState } from "react";

import { Facts } from "../../../components/ui/form";
import { counted, credits, errorText, seconds } from "../../../format";
import { afterRest } from "../../../lib/after-rest";
import { TableHead } from "../../../../shared/table";
import { getRunCosts, type RunCosts, type RunCreditsTotal, type StepCost } from "../api/get-run-costs";

const COLUMNS = ["Step", "Attempts", "Wall time", "Tokens", "Tool calls", "Credits"] as const;

const tokens = (tokensIn: number, tokensOut: number): string =>
  tokensIn || tokensOut ? `${tokensIn.toLocaleString()} in / ${tokensOut.toLocaleString()} out` : "—";

const wall = (ms: number | null): string => (ms === null ? "—" : seconds(ms));

function toolCalls(calls: Record<string, number>): string {
  const named = Object.entries(calls).map(([tool, n]) => `${tool} × ${n.toLocaleString()}`);
  return named.join(", ") || "—";
}

/** The figure a step's (or the run's) credits cell shows: the charge once billing settled,
 * what it metered until then; and, below it, what was refunded or why it may still change. */
function creditCell(
  run: RunCreditsTotal,
  metered: number | null,
  charged: number | null,
  refunded: number | null,
  unmetered: number | null,
) {
  if (!run.available) return <>—</>;
  const note =
    run.settlement === "open"
      ? unmetered
        ? `metered so far; ${counted(unmetered, "record")} not metered yet`
        : "metered, not settled yet"
      : refunded
        ? `${credits(refunded)} refunded`
        : "";
  return (
    <>
      {credits(run.settlement === "open" ? metered : charged)}
      {note ? <div className="muted">{note}</div> : null}
    </>
  );
}

function stepName(step: StepCost): string {
  return step.kind ?? "task";
}

function attemptsText(step: StepCost): string {
  if (!step.attempts.length) return "—";
  const failed = step.attempts.filter((a) => a.outcome === "failed").length;
  return `${step.attempts.length}${failed ? ` (${failed} failed)` : ""}`;
}

/** What the credits column means for this run, in words. */
export function creditsNote(run: RunCreditsTotal): string {
  if (!run.available) return "Credits are unavailable: billing did not answer. Time, tokens and tool calls are from the run's log.";
  if (run.settlement === "settled")
    return `Billing settled ${credits(run.settled)} for this run (of ${credits(run.reserved)} reserved); each step shows its part of that charge.`;
  if (run.settlement === "refunded")
    return "Billing refunded this run in full: nothing was charged, each step shows what it had metered as refunded.";
  return "Credits are what billing has metered so far; the charge is settled when the run ends.";
}

/** The table of a run's costs per step, with the run's totals in its foot. */
export function CostTable({ costs }: { costs: RunCosts }) {
  const run = costs.totals.credits;
  const t = costs.totals;
  return (
    <div className="table-wrap" role="region" aria-label="Cost per step table" tabIndex={0}>
      <table>
        <TableHead caption="Cost per step: attempts, wall time, tokens, tool calls and credits" columns={COLUMNS} />
        <tbody>
          {costs.steps.map((step) => (
            <tr key={step.task_id}>
              <th scope="row">
                {stepName(step)}
                {step.sub_question ? <div className="muted">{step.sub_question}</div> : null}
              </th>
              <td>
                {attemptsText(step)}
                {step.attempts.length > 1 ? (
                  <div className="muted">
                    {step.attempts
                      .map((a) => `#${a.attempt} ${a.outcome ?? "running"}${a.duration_ms === null ? "" : ` ${seconds(a.duration_ms)}`}`)
                      .join(", ")}
                  </div>
                ) : null}
              </td>
              <td>{wall(step.wall_ms)}</td>
              <td>
                {tokens(step.tokens_in, step.tokens_out)}
                {step.by_model.length ? <div className="muted">{step.by_model.map((m) => m.model).join(", ")}</div> : null}
              </td>
              <td>{toolCalls(step.tool_calls)}</td>
              <td>
                {creditCell(run, step.credits.metered, step.credits.charged, step.credits.refunded, step.credits.unmetered_records)}
              </td>
            </tr>
          ))}
        </tbody>
        <tfoot>
          <tr>
            <th scope="row">Total</th>
            <td>{t.attempts.toLocaleString()}</td>
            <td>{wall(t.wall_ms)}</td>
            <td>{tokens(t.tokens_in, t.tokens_out)}</td>
            <td>{toolCalls(t.tool_calls)}</td>
            <td>{creditCell(run, run.metered, run.charged, run.refunded, run.unmetered_records)}</td>
          </tr>
        </tfoot>
      </table>
    </div>
  );
}

/** The runtime inspector's Cost panel: asks the gateway once the log rests, not per event.
 * `base` is the run's API path: `/v1/runs/<id>` for the workspace, `/v1/ops/runs/<id>` for operators. */
export function CostPanel({ base, lastSeq }: { base: string; lastSeq: number }) {
  const id = useId();
  const [costs, setCosts] = useState<RunCosts | null>(null);
  const [error, setError] = useState("");

  useEffect(
    () =>
      afterRest(600, (signal) => {
        getRunCosts(base, signal).then(
          (found) => {
            setCosts(found);
            setError("");
          },
          (exc: unknown) => {
            if (!signal.aborted) setError(errorText(exc));
          },
        );
      }),
    [base, lastSeq],
  );

  const run = costs?.totals.credits;
  return (
    <section aria-labelledby={`${id}-h`} className="cost-panel">
      <h3 id={`${id}-h`}>Cost</h3>
      {error ? <p role="alert">Costs could not be loaded: {error}</p> : null}
      {costs === null && !error ? <p className="muted">Adding up the run's costs…</p> : null}
      {costs && run ? (
        <>
          <Facts
            facts={[
              ["Credits charged", run.settlement === "open" ? "not settled yet" : credits(run.charged)],
              ["Credits metered", credits(run.metered)],
              ["Tokens", tokens(costs.totals.tokens_in, costs.totals.tokens_out)],
              ["Wall time", wall(costs.totals.wall_ms)],
            ]}
          />
          {costs.steps.length ? <CostTable costs={costs} /> : <p className="muted">No step yet.</p>}
          <p className="muted" aria-live="polite">
            {creditsNote(run)}
            {costs.totals.missing_usage
              ? ` ${counted(costs.totals.missing_usage, "usage record")} the steps reported ${costs.totals.missing_usage === 1 ? "is" : "are"} not in the log yet.`
              : ""}
          </p>
        </>
      ) : null}
    </section>
  );
}
