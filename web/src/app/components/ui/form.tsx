/* Form pieces every panel repeats: labelled inputs, selects, text areas and checkboxes, the alert
 * line a refusal shows in, the submit button under it, the polite status line that says a save
 * went through, and a list of facts. */
import type { ChangeEvent, InputHTMLAttributes, ReactNode } from "react";

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
    <Labelled id={id} label={label}>
      <textarea id={id} maxLength={maxLength} rows={rows} value={value} onChange={valueTo(onChange)} />
    </Labelled>
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

interface LabelledProps {
  id: string;
  label: string;
  /** A line under the control that describes it (a limit, or why an option is off). */
  hint?: string | null;
}

/** A control under its label, and the control's hint below it. */
function Labelled({ id, label, hint, children }: LabelledProps & { children: ReactNode }) {
  return (
    <>
      <label htmlFor={id}>{label}</label>
      {children}
      {hint ? (
        <p id={`${id}-hint`} className="hint">
          {hint}
        </p>
      ) : null}
    </>
  );
}

/** The control's aria-describedby: its hint, when it has one. */
const hintOf = (id: string, hint?: string | null) => (hint ? `${id}-hint` : undefined);

/** A change handler that hands the control's new value to `onChange`. */
function valueTo(onChange: (value: string) => void) {
  return (e: ChangeEvent<HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement>) => {
    onChange(e.target.value);
  };
}

/** A label, its input and the input's hint. `onChange` gets the new value. */
export function LabelledInput({
  id,
  label,
  hint,
  onChange,
  ...input
}: LabelledProps & Omit<InputHTMLAttributes<HTMLInputElement>, "id" | "onChange"> & { onChange: (value: string) => void }) {
  return (
    <Labelled id={id} label={label} hint={hint}>
      <input id={id} aria-describedby={hintOf(id, hint)} onChange={valueTo(onChange)} {...input} />
    </Labelled>
  );
}

/** A label and its select of `options` (value, text); `children` adds options of its own. */
export function LabelledSelect({
  id,
  label,
  hint,
  value,
  onChange,
  options = [],
  children,
}: LabelledProps & {
  value: string | number;
  onChange: (value: string) => void;
  options?: readonly (readonly [string, string])[];
  children?: ReactNode;
}) {
  return (
    <Labelled id={id} label={label} hint={hint}>
      <select id={id} value={value} aria-describedby={hintOf(id, hint)} onChange={valueTo(onChange)}>
        {options.map(([option, text]) => (
          <option key={option} value={option}>
            {text}
          </option>
        ))}
        {children}
      </select>
    </Labelled>
  );
}

/** A checkbox and its label; `children` follows the label (a note, a reason it is off). */
export function Check({
  id,
  label,
  checked,
  onChange,
  disabled,
  describedBy,
  children,
}: {
  id: string;
  label: ReactNode;
  checked: boolean;
  onChange: (checked: boolean) => void;
  disabled?: boolean;
  describedBy?: string;
  children?: ReactNode;
}) {
  return (
    <div className="check">
      <input
        id={id}
        type="checkbox"
        checked={checked}
        disabled={disabled}
        aria-describedby={describedBy}
        onChange={(e) => {
          onChange(e.target.checked);
        }}
      />
      <label htmlFor={id}>{label}</label>
      {children}
    </div>
  );
}

/** Facts as a definition list: a term and its value each. */
export function Facts({ facts }: { facts: readonly (readonly [string, ReactNode] | null)[] }) {
  return (
    <dl className="facts">
      {facts.map((fact) =>
        fact ? (
          <div key={fact[0]}>
            <dt>{fact[0]}</dt>
            <dd>{fact[1]}</dd>
          </div>
        ) : null,
      )}
    </dl>
  );
}
