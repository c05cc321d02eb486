/* /ops/deadletters: what each service gave up on and why, newest first; inspect one, and (a
 * platform admin) redrive or discard one or every open letter the filter takes. */

import { useCallback, useState } from "react";
import { Link } from "react-router";

import { LabelledInput, LabelledSelect } from "../../components/ui/form";
import { FilterForm } from "../../features/ops/components/FilterForm";
import { NotOperator, OpsPage, Reading } from "../../features/ops/components/OpsPage";
import { type FilteredSource, useFilteredPages } from "../../features/ops/hooks/use-filtered-pages";
import { type LetterFilters, LETTER_STATES, letterFiltersFrom, letterQuery, opsAccess, instant } from "../../features/ops/logic";
import type { DeadLetter, DeadLetterPage } from "../../features/ops/types";
import { useSession } from "../../session";
import { DataTable } from "../../../shared/table";
import { BulkActions, LetterButtons } from "./DeadLetterActions";

const LETTERS: FilteredSource<LetterFilters, DeadLetterPage, DeadLetter> = {
  path: "/v1/ops/deadletters",
  filtersFrom: letterFiltersFrom,
  queryOf: letterQuery,
  itemsOf: (page) => page.letters,
};

export function OpsDeadLettersPage() {
  const { me } = useSession();
  const access = opsAccess(me);
  const { key, filters, items: letters, nextBefore, error, forbidden, load, applyFilters } = useFilteredPages(LETTERS);
  const [said, setSaid] = useState("");

  const done = useCallback(
    async (text: string) => {
      setSaid(text);
      await load();
    },
    [load],
  );

  if (forbidden) return <NotOperator />;
  return (
    <OpsPage title="Dead letters">
      <LetterFilterForm key={key} applied={filters} onApply={applyFilters} />
      <p role="status" aria-live="polite">
        {said}
      </p>
      <Reading what="The dead letters" read={{ data: letters, error }} />
      {letters && !letters.length ? <p>No {filters.state === "all" ? "" : `${filters.state} `}dead letter matches.</p> : null}
      {letters?.length ? (
        <DataTable label="Dead letters table" caption="Dead letters, newest first" columns={["Letter", "Service", "Reason", "Subject", "Dead since", access.change ? "Action" : "State"]}>
          {letters.map((letter) => (
            <tr key={letter.seq}>
              <th scope="row">
                <Link to={`/ops/deadletters/${letter.seq}`} aria-label={`Inspect dead letter ${letter.seq}`}>
                  #{letter.seq}
                </Link>
              </th>
              <td>{letter.service}</td>
              <td className="reason">{letter.reason}</td>
              <td>
                <code>{letter.subject ?? "—"}</code>
              </td>
              <td>
                {instant(letter.dead_at)}
                {letter.redrives ? <div className="muted">redriven {letter.redrives}×</div> : null}
              </td>
              <td>{access.change ? <LetterButtons letter={letter} onDone={done} /> : letter.state}</td>
            </tr>
          ))}
        </DataTable>
      ) : null}
      {nextBefore ? (
        <button type="button" onClick={() => void load(nextBefore)}>
          Older dead letters
        </button>
      ) : null}
      {access.change ? <BulkActions filters={filters} onDone={done} /> : null}
    </OpsPage>
  );
}

function LetterFilterForm({ applied, onApply }: { applied: LetterFilters; onApply: (next: LetterFilters) => void }) {
  return (
    <FilterForm label="Dead letter filters" applied={applied} onApply={onApply}>
      {({ ids, draft, setDraft }) => (
        <>
          {(["service", "subject", "reason"] as const).map((name) => (
            <div key={name} className="field">
              <LabelledInput
                id={`${ids}-${name}`}
                label={name === "reason" ? "Reason contains" : name === "service" ? "Service" : "Subject"}
                value={draft[name]}
                maxLength={256}
                onChange={(value) => {
                  setDraft({ ...draft, [name]: value });
                }}
              />
            </div>
          ))}
          <div className="field">
            <LabelledSelect
              id={`${ids}-state`}
              label="State"
              value={draft.state}
              options={LETTER_STATES.map((s) => [s, s] as const)}
              onChange={(value) => {
                setDraft({ ...draft, state: value });
              }}
            />
          </div>
        </>
      )}
    </FilterForm>
  );
}
