/* /ops/deadletters: what each service gave up on and why, newest first; inspect one, and (a
 * platform admin) redrive or discard one or every open letter the filter takes. */

import { useCallback, useEffect, useId, useMemo, useState, type SyntheticEvent } from "react";
import { Link, useSearchParams } from "react-router";

import { ApiError, get } from "../../api";
import { LabelledInput, LabelledSelect } from "../../components/ui/form";
import { NotOperator, OpsPage } from "../../features/ops/components/OpsPage";
import { type LetterFilters, LETTER_STATES, letterFiltersFrom, letterQuery, opsAccess, instant } from "../../features/ops/logic";
import type { DeadLetter, DeadLetterPage } from "../../features/ops/types";
import { errorText } from "../../format";
import { useSession } from "../../session";
import { TableHead } from "../../../shared/table";
import { BulkActions, LetterButtons } from "./DeadLetterActions";

const PAGE = 50;

export function OpsDeadLettersPage() {
  const { me } = useSession();
  const access = opsAccess(me);
  const [params, setParams] = useSearchParams();
  const key = params.toString();
  const filters = useMemo(() => letterFiltersFrom(new URLSearchParams(key)), [key]);
  // The letters read for one set of filters (`key`), shown only under those filters.
  const [loaded, setLoaded] = useState<{ key: string; letters: DeadLetter[]; nextBefore: number | null } | null>(null);
  const letters = loaded?.key === key ? loaded.letters : null;
  const nextBefore = loaded?.key === key ? loaded.nextBefore : null;
  const [error, setError] = useState("");
  const [forbidden, setForbidden] = useState(false);
  const [said, setSaid] = useState("");

  const load = useCallback(
    (before: number | null = null) => {
      const query = letterQuery(filters);
      query.set("limit", String(PAGE));
      if (before !== null) query.set("before", String(before));
      return get<DeadLetterPage>(`/v1/ops/deadletters?${query.toString()}`).then(
        (found) => {
          setLoaded((shown) => ({
            key,
            letters: before !== null && shown?.key === key ? [...shown.letters, ...found.letters] : found.letters,
            nextBefore: found.next_before,
          }));
          setError("");
        },
        (exc: unknown) => {
          if (exc instanceof ApiError && exc.status === 403) setForbidden(true);
          setError(errorText(exc));
        },
      );
    },
    [filters, key],
  );

  useEffect(() => {
    void load();
  }, [load]);

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
      <LetterFilterForm key={key} applied={filters} onApply={(next) => {
        setParams(letterQuery(next));
      }} />
      <p role="status" aria-live="polite">
        {said}
      </p>
      {error ? <p role="alert">{`The dead letters could not be read: ${error}`}</p> : null}
      {letters === null && !error ? <p role="status">Loading…</p> : null}
      {letters && !letters.length ? <p>No {filters.state === "all" ? "" : `${filters.state} `}dead letter matches.</p> : null}
      {letters?.length ? (
        <div className="table-wrap" role="region" aria-label="Dead letters table" tabIndex={0}>
          <table>
            <TableHead
              caption="Dead letters, newest first"
              columns={["Letter", "Service", "Reason", "Subject", "Dead since", access.change ? "Action" : "State"]}
            />
            <tbody>
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
            </tbody>
          </table>
        </div>
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
  const ids = useId();
  const [draft, setDraft] = useState(applied);
  function submit(event: SyntheticEvent) {
    event.preventDefault();
    onApply(draft);
  }
  return (
    <form aria-label="Dead letter filters" className="filters" onSubmit={submit}>
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
      <div className="filter-buttons">
        <button type="submit">Filter</button>
      </div>
    </form>
  );
}
