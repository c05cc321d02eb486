/* /ops/audit: the platform's audit log, newest first (platform admins, `ops:audit`): grants and
 * revocations, every use of an ops route, redrives, discards and replays; filtered by kind and
 * actor, paged back by sequence. Details are recorded request data: text only. */

import { useCallback, useEffect, useId, useMemo, useState, type SyntheticEvent } from "react";
import { useSearchParams } from "react-router";

import { ApiError, get } from "../../api";
import { LabelledInput, LabelledSelect } from "../../components/ui/form";
import { AUDIT_KINDS, type AuditFilters, auditFiltersFrom, auditQuery } from "../../features/ops/audit";
import { NotAllowed, NotOperator, OpsPage } from "../../features/ops/components/OpsPage";
import { boundedText, instant, opsAccess } from "../../features/ops/logic";
import type { PlatformAuditEntry, PlatformAuditPage } from "../../features/ops/types";
import { errorText } from "../../format";
import { useSession } from "../../session";
import { TableHead } from "../../../shared/table";

const PAGE = 50;
const MAX_DETAIL_CHARS = 4_000;

export function OpsAuditPage() {
  const { me } = useSession();
  if (!opsAccess(me).audit) return <NotAllowed title="Audit log" permission="ops:audit" what="The platform's audit log" />;
  return <AuditLog />;
}

function AuditLog() {
  const [params, setParams] = useSearchParams();
  const key = params.toString();
  const filters = useMemo(() => auditFiltersFrom(new URLSearchParams(key)), [key]);
  // The entries read for one set of filters (`key`), shown only under those filters.
  const [loaded, setLoaded] = useState<{ key: string; entries: PlatformAuditEntry[]; nextBefore: number | null } | null>(null);
  const entries = loaded?.key === key ? loaded.entries : null;
  const nextBefore = loaded?.key === key ? loaded.nextBefore : null;
  const [error, setError] = useState("");
  const [forbidden, setForbidden] = useState(false);

  const load = useCallback(
    (before: number | null = null) => {
      const query = auditQuery(filters);
      query.set("limit", String(PAGE));
      if (before !== null) query.set("before", String(before));
      return get<PlatformAuditPage>(`/v1/ops/audit?${query.toString()}`).then(
        (found) => {
          setLoaded((shown) => ({
            key,
            entries: before !== null && shown?.key === key ? [...shown.entries, ...found.entries] : found.entries,
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

  if (forbidden) return <NotOperator />;
  return (
    <OpsPage title="Audit log">
      <AuditFilterForm
        key={key}
        applied={filters}
        onApply={(next) => {
          setParams(auditQuery(next));
        }}
      />
      {error ? <p role="alert">{`The audit log could not be read: ${error}`}</p> : null}
      {entries === null && !error ? <p role="status">Loading…</p> : null}
      {entries && !entries.length ? <p>No entry matches.</p> : null}
      {entries?.length ? (
        <div className="table-wrap" role="region" aria-label="Audit log table" tabIndex={0}>
          <table>
            <TableHead caption="The platform audit log, newest first" columns={["Time", "Kind", "Actor", "Source address", "Target", "Detail"]} />
            <tbody>
              {entries.map((entry) => (
                <tr key={entry.seq}>
                  <th scope="row">{instant(entry.at)}</th>
                  <td>{entry.kind}</td>
                  <td className="reason">{entry.actor.name}</td>
                  <td>
                    <code>{entry.source_address}</code>
                  </td>
                  <td className="reason">{entry.target ?? "—"}</td>
                  <td className="payload">
                    <pre>{boundedText(JSON.stringify(entry.detail), MAX_DETAIL_CHARS).text}</pre>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      ) : null}
      {nextBefore ? (
        <button type="button" onClick={() => void load(nextBefore)}>
          Older entries
        </button>
      ) : entries?.length ? (
        <p className="muted">No older entry matches.</p>
      ) : null}
    </OpsPage>
  );
}

function AuditFilterForm({ applied, onApply }: { applied: AuditFilters; onApply: (next: AuditFilters) => void }) {
  const ids = useId();
  const [draft, setDraft] = useState(applied);
  function submit(event: SyntheticEvent) {
    event.preventDefault();
    onApply(draft);
  }
  return (
    <form aria-label="Audit log filters" className="filters" onSubmit={submit}>
      <div className="field">
        <LabelledSelect
          id={`${ids}-kind`}
          label="Kind"
          value={draft.kind}
          options={[["", "every kind"] as const, ...AUDIT_KINDS.map((kind) => [kind, kind] as const)]}
          onChange={(value) => {
            setDraft({ ...draft, kind: value });
          }}
        />
      </div>
      <div className="field">
        <LabelledInput
          id={`${ids}-actor`}
          label="Actor"
          value={draft.actor}
          maxLength={320}
          hint="An operator's email, or a cli: name."
          onChange={(value) => {
            setDraft({ ...draft, actor: value });
          }}
        />
      </div>
      <div className="filter-buttons">
        <button type="submit">Filter</button>
      </div>
    </form>
  );
}
