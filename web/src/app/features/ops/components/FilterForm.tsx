/* A console list's filter form: the fields edit a draft, which the list takes only on "Filter".
 * Keyed by the applied filters where used, so a new query string starts a fresh draft. */
import { useId, useState, type ReactNode, type SyntheticEvent } from "react";

export interface FilterDraft<F> {
  /** The prefix of the fields' ids, unique to this form. */
  ids: string;
  draft: F;
  setDraft: (next: F) => void;
}

export function FilterForm<F>({
  label,
  applied,
  onApply,
  children,
}: {
  label: string;
  applied: F;
  onApply: (next: F) => void;
  children: (fields: FilterDraft<F>) => ReactNode;
}) {
  const ids = useId();
  const [draft, setDraft] = useState(applied);
  function submit(event: SyntheticEvent) {
    event.preventDefault();
    onApply(draft);
  }
  return (
    <form aria-label={label} className="filters" onSubmit={submit}>
      {children({ ids, draft, setDraft })}
      <div className="filter-buttons">
        <button type="submit">Filter</button>
      </div>
    </form>
  );
}
