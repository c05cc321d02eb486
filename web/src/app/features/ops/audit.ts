/* The platform audit log's filters as they stand in the page's address, and the API's query. */

// The kinds the gateway records (services/gateway/adapters/platform_audit.py KINDS; the browser
// test holds the two equal). The API refuses any other with a 400.
export const AUDIT_KINDS = [
  "operator.granted",
  "operator.revoked",
  "ops.read",
  "ops.change",
  "ops.deadletter.redriven",
  "ops.deadletter.discarded",
  "ops.replay.started",
  "ops.agent.registered",
  "ops.agent.evaluated",
  "ops.rollout.started",
  "ops.rollout.paused",
  "ops.rollout.resumed",
  "ops.rollout.aborted",
  "ops.rollout.rerandomised",
] as const;

export interface AuditFilters {
  /** One of AUDIT_KINDS, or "" for every kind. */
  kind: string;
  /** An operator's email or a `cli:` name, as recorded. */
  actor: string;
}

export function auditFiltersFrom(params: URLSearchParams): AuditFilters {
  const kind = params.get("kind") ?? "";
  return {
    kind: (AUDIT_KINDS as readonly string[]).includes(kind) ? kind : "",
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
