/* What the manage pages (datasets, templates, monitors, settings) share: a listed collection,
 * the page frame, a create form with its error, a labelled field, and a confirmed delete. */

import { useCallback, useEffect, useId, useRef, useState, type ReactNode, type SyntheticEvent } from "react";

import { get } from "../../api";
import { errorText } from "../../format";
import { SubmitRow } from "../../components/ui/form";
import { useAction } from "../../hooks/use-action";

// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- T names the listed rows for the caller
export function useList<T>(path: string, key: string): { items: T[] | null; error: string; reload: () => Promise<void> } {
  const [items, setItems] = useState<T[] | null>(null);
  const [error, setError] = useState("");
  const reload = useCallback(
    () =>
      get<Record<string, T[]>>(path).then(
        (body) => {
          setItems(body[key] ?? []);
          setError("");
        },
        (exc: unknown) => {
          setError(errorText(exc));
        },
      ),
    [path, key],
  );
  useEffect(() => {
    void reload();
  }, [reload]);
  return { items, error, reload };
}

export function Page({ title, children }: { title: string; children: ReactNode }) {
  useEffect(() => {
    document.title = `${title} · Quarry`;
  }, [title]);
  return (
    <main id="main">
      <h1>{title}</h1>
      {children}
    </main>
  );
}

export function CreateForm({
  title,
  submitLabel,
  onSubmit,
  children,
}: {
  title: string;
  submitLabel: string;
  onSubmit: () => Promise<void>;
  children: ReactNode;
}) {
  const ids = useId();
  const { busy, error, run } = useAction();
  async function submit(event: SyntheticEvent) {
    event.preventDefault();
    await run(onSubmit);
  }
  return (
    <section aria-labelledby={`${ids}-h`} className="card">
      <h2 id={`${ids}-h`}>{title}</h2>
      <form onSubmit={(e) => void submit(e)}>
        {children}
        <SubmitRow error={error} busy={busy} label={submitLabel} />
      </form>
    </section>
  );
}

export function Field({
  label,
  value,
  onChange,
  ...rest
}: {
  label: string;
  value: string;
  onChange: (v: string) => void;
  type?: string;
  required?: boolean;
  maxLength?: number;
  pattern?: string;
  min?: number;
  max?: number;
  hint?: string;
  autoComplete?: string;
  placeholder?: string;
  inputMode?: "url" | "email" | "numeric" | "text";
}) {
  const id = useId();
  const { hint, ...input } = rest;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        value={value}
        aria-describedby={hint ? `${id}-hint` : undefined}
        onChange={(e) => {
          onChange(e.target.value);
        }}
        {...input}
      />
      {hint ? (
        <p id={`${id}-hint`} className="hint">
          {hint}
        </p>
      ) : null}
    </div>
  );
}

/** A destructive action behind a second, explicit button: the first press only asks. */
export function ConfirmButton({
  text,
  label,
  question,
  confirmLabel,
  onConfirm,
}: {
  /** What the first button reads, e.g. "Delete"; `label` names it for assistive technology. */
  text: string;
  label: string;
  question: string;
  confirmLabel: string;
  onConfirm: () => Promise<void>;
}) {
  const [asking, setAsking] = useState(false);
  const [busy, setBusy] = useState(false);
  const first = useRef<HTMLButtonElement>(null);
  const keep = useRef<HTMLButtonElement>(null);
  const answered = useRef(false);

  // The question replaces the first button and back: keep the keyboard's place each way.
  useEffect(() => {
    if (asking) keep.current?.focus();
    else if (answered.current) first.current?.focus();
  }, [asking]);

  if (!asking) {
    return (
      <button
        ref={first}
        type="button"
        className="link-button"
        aria-label={label}
        onClick={() => {
          answered.current = true;
          setAsking(true);
        }}
      >
        {text}
      </button>
    );
  }
  return (
    <span role="group" aria-label={question}>
      <span>{question} </span>
      <button
        type="button"
        className="danger"
        disabled={busy}
        onClick={() => {
          setBusy(true);
          void onConfirm().finally(() => {
            setBusy(false);
            setAsking(false);
          });
        }}
      >
        {confirmLabel}
      </button>
      <button
        ref={keep}
        type="button"
        className="link-button"
        onClick={() => {
          setAsking(false);
        }}
      >
        Keep it
      </button>
    </span>
  );
}
