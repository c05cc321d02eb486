/* What the manage pages (datasets, templates, monitors, settings) share: a listed collection and
 * its section, the page frame, a create form with its error, a labelled field, and a confirmed delete. */

import { useCallback, useEffect, useId, useRef, useState, type ComponentProps, type ReactNode, type SyntheticEvent } from "react";

import { get } from "../../api";
import { errorText } from "../../format";
import { Alert, LabelledInput, SubmitRow } from "../../components/ui/form";
import { useAction } from "../../hooks/use-action";

export interface ListState<T> {
  items: T[] | null;
  /** Why the list could not be read. */
  error: string;
  reload: () => Promise<void>;
  /** Why the last action on a row failed. */
  actionError: string;
  setActionError: (text: string) => void;
  /** Runs an action on a row: a refusal lands in `actionError` (after `prefix`), and the list reloads either way. */
  act: (work: () => Promise<unknown>, prefix?: string) => Promise<void>;
}

export function useList<T>(path: string, key: string): ListState<T> {
  const [items, setItems] = useState<T[] | null>(null);
  const [error, setError] = useState("");
  const [actionError, setActionError] = useState("");
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
  const act = useCallback(
    async (work: () => Promise<unknown>, prefix = "") => {
      setActionError("");
      try {
        await work();
      } catch (exc) {
        setActionError(prefix + errorText(exc));
      }
      await reload();
    },
    [reload],
  );
  useEffect(() => {
    void reload();
  }, [reload]);
  return { items, error, reload, actionError, setActionError, act };
}

/** A listed collection under its heading: the list's read error, the alert a failed action on a
 * row shows in (when `actions`), a note when the list is empty, and the rows. */
export function ListSection({
  heading,
  list,
  empty,
  actions = false,
  className,
  children,
}: {
  heading: string;
  list: Pick<ListState<unknown>, "items" | "error" | "actionError">;
  empty?: string;
  actions?: boolean;
  className?: string;
  children: ReactNode;
}) {
  const id = useId();
  return (
    <section aria-labelledby={id} className={className}>
      <h2 id={id}>{heading}</h2>
      {list.error ? <p role="alert">{list.error}</p> : null}
      {actions ? <Alert error={list.actionError} as="div" /> : null}
      {empty && list.items?.length === 0 ? <p className="muted">{empty}</p> : null}
      <ul>{children}</ul>
    </section>
  );
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

/** A form that makes one item of `list`: its refusal shows under it, and the list is read again once the item is made. */
export function CreateForm({
  title,
  submitLabel,
  list,
  onSubmit,
  children,
}: {
  title: string;
  submitLabel: string;
  list: Pick<ListState<unknown>, "reload">;
  onSubmit: () => Promise<void>;
  children: ReactNode;
}) {
  const ids = useId();
  const { busy, error, run } = useAction();
  async function submit(event: SyntheticEvent) {
    event.preventDefault();
    await run(async () => {
      await onSubmit();
      await list.reload();
    });
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

/** A labelled input in its own row, with an id of its own. */
export function Field(props: Omit<ComponentProps<typeof LabelledInput>, "id">) {
  const id = useId();
  return (
    <div className="field">
      <LabelledInput id={id} {...props} />
    </div>
  );
}

/** A secret the gateway shows once (an API key, an invite token), after what to do with it. */
export function ShownOnce({ text, secret }: { text: string; secret: string }) {
  return secret ? (
    <p role="status">
      {text}: <code>{secret}</code>
    </p>
  ) : null;
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
