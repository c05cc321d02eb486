/* Form pieces every panel repeats: a labelled text area and the alert line a refusal shows in. */

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

export function Alert({ error }: { error: string }) {
  return (
    <p role="alert" className="error">
      {error}
    </p>
  );
}
