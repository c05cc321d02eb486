import { useEffect, useId, useMemo, useState } from "react";

import { get, type RunView } from "../api";
import type { RunEvent } from "../events";
import { credits, errorText, seconds, stateLabel } from "../format";
import { afterRest } from "../lib/after-rest";
import { indexedChunks, type TaskCredits, taskCredits, taskGraph, usageText } from "../runlog";
import { Facts, LabelledInput } from "../components/ui/form";
import { DataTable } from "../../shared/table";
import { CostPanel } from "../features/run/components/CostPanel";

/** The runtime inspector: the task graph from the log, and the run as it was at any event. */
export function Inspector({ base, events, lastSeq }: { base: string; events: readonly RunEvent[]; lastSeq: number }) {
  const ids = useId();
  const tasks = useMemo(() => taskGraph(events), [events]);
  const memory = useMemo(() => indexedChunks(events), [events]);
  const [at, setAt] = useState<number | null>(null);
  const [past, setPast] = useState<RunView | null>(null);
  const [error, setError] = useState("");
  const [billed, setBilled] = useState<TaskCredits | null>(null);

  // Credits are billing's figures, asked of the gateway once the log rests rather than per event.
  useEffect(
    () =>
      afterRest(600, (signal) => {
        get<unknown>(`${base}/tasks`, signal).then(
          (body) => {
            setBilled(taskCredits(body));
          },
          () => {
            if (!signal.aborted) setBilled({ available: false, total: null, unmetered: 0, byTask: new Map() });
          },
        );
      }),
    [base, lastSeq],
  );

  useEffect(() => {
    if (at === null) return;
    // Dragging the slider asks once it rests, not for every position passed.
    return afterRest(250, (signal) => {
      get<RunView>(`${base}/state?at=${at}`, signal).then(
        (state) => {
          setPast(state);
          setError("");
        },
        (exc: unknown) => {
          if (!signal.aborted) setError(errorText(exc));
        },
      );
    });
  }, [at, base]);

  const position = at ?? lastSeq;
  const eventAt = events.find((e) => e.seq === position);

  return (
    <section aria-labelledby={`${ids}-h`} className="inspector">
      <h2 id={`${ids}-h`}>Runtime inspector</h2>
      <h3>Task graph</h3>
      {tasks.length === 0 ? <p className="muted">No task yet.</p> : null}
      {tasks.length ? (
        <DataTable label="Task graph table" caption="Tasks in the order of the run's work" columns={["Task", "Status", "Attempts", "Duration", "Policy", "Usage", "Credits"]}>
          {tasks.map((t) => (
            <tr key={t.task_id}>
              <th scope="row">{t.kind || "tool"}</th>
              <td>
                {t.status}
                {t.failure ? <div className="muted">{t.failure}</div> : null}
              </td>
              <td>{t.attempts || "—"}</td>
              <td>{t.duration_ms === null ? "—" : seconds(t.duration_ms)}</td>
              <td>
                {t.decision ?? "—"}
                {t.reasons.length ? <div className="muted">{t.reasons.join("; ")}</div> : null}
              </td>
              <td>{usageText(t)}</td>
              <td>{billed?.available ? credits(billed.byTask.get(t.task_id) ?? 0) : "—"}</td>
            </tr>
          ))}
        </DataTable>
      ) : null}
      {tasks.length ? (
        <p className="muted" aria-live="polite">
          {billed?.available
            ? `Credits are what billing metered for each task's usage: ${credits(billed.total)} for the run's tasks` +
              (billed.unmetered
                ? `, ${billed.unmetered.toLocaleString()} usage record${billed.unmetered === 1 ? "" : "s"} not metered yet.`
                : ".")
            : billed
              ? "Credits per task are unavailable: billing did not answer. Usage is what each task's worker reported."
              : "Usage is what each task's worker reported; credits per task are on their way from billing."}
        </p>
      ) : null}

      <CostPanel base={base} lastSeq={lastSeq} />

      <h3>Memory</h3>
      <p>
        {memory === null
          ? "Nothing indexed yet: a finished run adds its cited findings to the workspace's memory."
          : `${memory} chunks of this run's findings are in the workspace's memory, for follow-ups and later runs.`}
      </p>

      <h3>Time travel</h3>
      {lastSeq > 0 ? (
        <>
          <LabelledInput
            id={`${ids}-at`}
            label="Log position"
            type="range"
            min={1}
            max={lastSeq}
            step={1}
            value={position}
            aria-valuetext={`event ${position} of ${lastSeq}${eventAt ? `: ${eventAt.type}` : ""}`}
            onChange={(v) => {
              setAt(Number(v));
            }}
          />
          <p className="muted">
            Event {position} of {lastSeq}
            {eventAt ? ` (${eventAt.type})` : ""}
          </p>
          <div aria-live="polite">
            {error ? <p role="alert">{error}</p> : null}
            {at !== null && past ? (
              <Facts
                facts={[
                  ["State then", stateLabel(past.state)],
                  ["Steps then", past.steps.map((s) => `${s.step} ${s.status}`).join(", ") || "—"],
                  ["Sub-questions then", past.sub_questions.length],
                  ["Reserved then", credits(past.cost.reserved)],
                  ["Spent then", credits(past.cost.settled)],
                ]}
              />
            ) : null}
          </div>
        </>
      ) : (
        <p className="muted">The log is empty so far.</p>
      )}
    </section>
  );
}
