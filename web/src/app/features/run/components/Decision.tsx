import { useState } from "react";

import { Alert, TextArea } from "../../../components/ui/form";
import { useAction } from "../../../hooks/use-action";

interface Choice {
  label: string;
  /** Unset: the button submits the panel's form. */
  onClick?: () => void;
}

/** A decision's state: the comment that goes with it, and the one action that sends it. */
export function useDecision() {
  const [comment, setComment] = useState("");
  return { comment, setComment, ...useAction() };
}

/** The foot of a panel where a human decides on a run: a comment, the choice that goes on and the
 * one that stops (both off while the decision is sent), then the refusal if any. */
export function Decision({
  id,
  decision: { comment, setComment, busy, error },
  go,
  stop,
}: {
  id: string;
  decision: ReturnType<typeof useDecision>;
  go: Choice;
  stop: Required<Choice>;
}) {
  return (
    <>
      <TextArea id={id} label="Comment" value={comment} onChange={setComment} />
      <div className="buttons">
        <button type={go.onClick ? "button" : "submit"} disabled={busy} onClick={go.onClick}>
          {go.label}
        </button>
        <button type="button" className="danger" disabled={busy} onClick={stop.onClick}>
          {stop.label}
        </button>
      </div>
      <Alert error={error} />
    </>
  );
}
