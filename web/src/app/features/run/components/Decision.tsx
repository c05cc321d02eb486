import { Alert, TextArea } from "../../../components/ui/form";

interface Choice {
  label: string;
  /** Unset: the button submits the panel's form. */
  onClick?: () => void;
}

/** The foot of a panel where a human decides on a run: a comment, the choice that goes on and the
 * one that stops (both off while the decision is sent), then the refusal if any. */
export function Decision({
  id,
  comment,
  onComment,
  busy,
  error,
  go,
  stop,
}: {
  id: string;
  comment: string;
  onComment: (value: string) => void;
  busy: boolean;
  error: string;
  go: Choice;
  stop: Required<Choice>;
}) {
  return (
    <>
      <TextArea id={id} label="Comment" value={comment} onChange={onComment} />
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
