import { useId, useState, type SyntheticEvent } from "react";

import { api } from "../../../api";
import { when } from "../../../format";
import { Decision, useDecision } from "./Decision";

const MAX_SUB_QUESTIONS = 20;

/** A run waiting for its plan's review: edit the sub-questions, then continue or cancel. */
export function PlanReview({
  base,
  initial,
  deadline,
  onDone,
}: {
  base: string;
  initial: string[];
  deadline: string | null;
  onDone: () => Promise<void>;
}) {
  const ids = useId();
  // The plan may arrive after the page: it shows until the user starts editing.
  const [edited, setEdited] = useState<string[] | null>(null);
  const items = edited ?? initial;
  const decision = useDecision();
  const { comment, setError, run } = decision;

  const edit = (next: string[]) => {
    setEdited(next);
  };

  async function send(action: "continue" | "cancel", event?: SyntheticEvent) {
    event?.preventDefault();
    setError("");
    const kept = items.map((s) => s.trim()).filter(Boolean);
    if (action === "continue" && kept.length === 0) {
      setError("Keep at least one sub-question, or cancel the run.");
      return;
    }
    await run(async () => {
      const body =
        action === "continue" ? { action, sub_questions: kept, comment: comment.trim() } : { action, comment: comment.trim() };
      await api(`${base}/plan`, { method: "POST", body });
      await onDone();
    });
  }

  return (
    <section aria-labelledby={`${ids}-h`} className="card attention">
      <h2 id={`${ids}-h`}>Review the plan</h2>
      <p>Edit, remove or add sub-questions, then continue. {deadline ? `Decide before ${when(deadline)}.` : null}</p>
      <form onSubmit={(e) => void send("continue", e)}>
        <ol className="plan-edit">
          {items.map((text, i) => (
            <li key={i}>
              <label htmlFor={`${ids}-q${i}`}>Sub-question {i + 1}</label>
              <div className="inline">
                <input
                  id={`${ids}-q${i}`}
                  type="text"
                  maxLength={500}
                  value={text}
                  onChange={(e) => {
                    edit(items.map((v, j) => (j === i ? e.target.value : v)));
                  }}
                />
                <button
                  type="button"
                  className="link-button"
                  aria-label={`Remove sub-question ${i + 1}`}
                  onClick={() => {
                    edit(items.filter((_, j) => j !== i));
                  }}
                >
                  Remove
                </button>
              </div>
            </li>
          ))}
        </ol>
        <button
          type="button"
          disabled={items.length >= MAX_SUB_QUESTIONS}
          onClick={() => {
            edit([...items, ""]);
          }}
        >
          Add sub-question
        </button>
        <Decision
          id={`${ids}-c`}
          decision={decision}
          go={{ label: "Continue" }}
          stop={{ label: "Cancel", onClick: () => void send("cancel") }}
        />
      </form>
    </section>
  );
}
