/* The platform audit log's filters as they stand in the page's address, and the API's query. */

import { limits } from "../../config/limits";

// The kinds the gateway records, as the build exported them (services/gateway/adapters/platform_audit.py
// KIND_ORDER, through src/generated/limits.json). The API refuses any other with a 400.
export const AUDIT_KINDS: readonly string[] = limits.auditKinds;

export interface AuditFilters {
  /** One of AUDIT_KINDS, or "" for every kind. */
  kind: string;
  /** An operator's email or a `cli:` name, as recorded. */
  actor: string;
}

export function auditFiltersFrom(params: URLSearchParams): AuditFilters {
  const kind = params.get("kind") ?? "";
  return {
    kind: AUDIT_KINDS.includes(kind) ? kind : "",
    actor: params.get("actor")?.trim() ?? "",
  };
}

/** The filters as a query (the page's address and the API's), empty ones left out. */
export function auditQuery(filters: AuditFilters): URLSearchParams {
  const query = new URLSearchParams();
  if (filters.kind) query.set("kind", filters.kind);
  if (filters.actor) query.set("actor", filters.actor);
  return query;
}
