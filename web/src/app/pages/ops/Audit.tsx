/* /ops/audit: the platform's audit log, newest first (platform admins, `ops:audit`): grants and
 * revocations, every use of an ops route, redrives, discards and replays; filtered by kind and
 * actor, paged back by sequence. Details are recorded request data: text only. */

import { LabelledInput, LabelledSelect } from "../../components/ui/form";
import { AUDIT_KINDS, type AuditFilters, auditFiltersFrom, auditQuery } from "../../features/ops/audit";
import { FilterForm } from "../../features/ops/components/FilterForm";
import { NotOperator, OpsPage, Reading } from "../../features/ops/components/OpsPage";
import { type FilteredSource, useFilteredPages } from "../../features/ops/hooks/use-filtered-pages";
import { boundedText, instant } from "../../features/ops/logic";
import type { PlatformAuditEntry, PlatformAuditPage } from "../../features/ops/types";
import { DataTable } from "../../../shared/table";

const MAX_DETAIL_CHARS = 4_000;

const AUDIT: FilteredSource<AuditFilters, PlatformAuditPage, PlatformAuditEntry> = {
  path: "/v1/ops/audit",
  filtersFrom: auditFiltersFrom,
  queryOf: auditQuery,
  itemsOf: (page) => page.entries,
};

/** Mounted only for platform admins (`RequireOpsAdmin` in the routes). */
export function OpsAuditPage() {
  const { key, filters, items: entries, nextBefore, error, forbidden, load, applyFilters } = useFilteredPages(AUDIT);

  if (forbidden) return <NotOperator />;
  return (
    <OpsPage title="Audit log">
      <AuditFilterForm key={key} applied={filters} onApply={applyFilters} />
      <Reading what="The audit log" read={{ data: entries, error }} />
      {entries && !entries.length ? <p>No entry matches.</p> : null}
      {entries?.length ? (
        <DataTable label="Audit log table" caption="The platform audit log, newest first" columns={["Time", "Kind", "Actor", "Source address", "Target", "Detail"]}>
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
        </DataTable>
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
  return (
    <FilterForm label="Audit log filters" applied={applied} onApply={onApply}>
      {({ ids, draft, setDraft }) => (
        <>
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
        </>
      )}
    </FilterForm>
  );
}
