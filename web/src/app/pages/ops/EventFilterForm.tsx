/* The event browser's filters: edited here, applied to the page's address on submit. */

import { useId, useState, type SyntheticEvent } from "react";

import { LabelledInput } from "../../components/ui/form";
import { type EventFilters, FILTER_NAMES } from "../../features/ops/logic";

const FIELDS: readonly [keyof EventFilters, string, string, string | null][] = [
  ["subject", "Subject", "text", "run.> or tool.v1.decided"],
  ["tenant", "Tenant", "text", null],
  ["run", "Run", "text", "a run id, or a follow-up question's"],
  ["type", "Type", "text", "tool.decided"],
  ["since", "Since", "datetime-local", null],
  ["until", "Until", "datetime-local", null],
  ["payload", "Payload field", "text", "tool=fetch_url"],
];

export function EventFilterForm({ applied, onApply }: { applied: EventFilters; onApply: (next: EventFilters) => void }) {
  const ids = useId();
  const [draft, setDraft] = useState<EventFilters>(applied);

  function submit(event: SyntheticEvent) {
    event.preventDefault();
    onApply(draft);
  }

  function clear() {
    const empty = Object.fromEntries(FILTER_NAMES.map((name) => [name, ""])) as unknown as EventFilters;
    setDraft(empty);
    onApply(empty);
  }

  return (
    <form aria-label="Event filters" className="filters" onSubmit={submit}>
      {FIELDS.map(([name, label, type, hint]) => (
        <div key={name} className="field">
          <LabelledInput
            id={`${ids}-${name}`}
            label={label}
            type={type}
            value={draft[name]}
            maxLength={256}
            hint={hint ? `e.g. ${hint}` : null}
            onChange={(value) => {
              setDraft({ ...draft, [name]: value });
            }}
          />
        </div>
      ))}
      <div className="filter-buttons">
        <button type="submit">Filter</button>
        <button type="button" className="link-button" onClick={clear}>
          Clear filters
        </button>
      </div>
    </form>
  );
}
