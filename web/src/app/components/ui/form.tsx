/* Form pieces every panel repeats: a labelled text area, the alert line a refusal shows in, the
 * submit button under it, and the polite status line that says a save went through. */

export function TextArea({
  id,
  label,
  value,
  onChange,
  maxLength = 2000,
  rows = 2,
}: {
  id: string;
  label: string;
  value: string;
  onChange: (value: string) => void;
  maxLength?: number;
  rows?: number;
}) {
  return (
    <>
      <label htmlFor={id}>{label}</label>
      <textarea
        id={id}
        maxLength={maxLength}
        rows={rows}
        value={value}
        onChange={(e) => {
          onChange(e.target.value);
        }}
      />
    </>
  );
}

export function Alert({ error, as: Tag = "p" }: { error: string; as?: "p" | "div" }) {
  return (
    <Tag role="alert" className="error">
      {error}
    </Tag>
  );
}

/** The form's error, then its submit button, disabled while the form's action runs. */
export function SubmitRow({ error, busy, label }: { error: string; busy: boolean; label: string }) {
  return (
    <>
      <Alert error={error} as="div" />
      <button type="submit" disabled={busy}>
        {label}
      </button>
    </>
  );
}

export function Saved({ text }: { text: string }) {
  return (
    <p role="status" aria-live="polite">
      {text}
    </p>
  );
}
