/* How numbers and times read in the workspace. */

export function when(iso: string | null | undefined): string {
  if (!iso) return "—";
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

/** "1 document", "3 documents": a count with its noun, singular for one. */
export function counted(n: number, noun: string): string {
  return `${n.toLocaleString()} ${noun}${Math.abs(n) === 1 ? "" : "s"}`;
}

export function credits(n: number | null | undefined): string {
  if (n === null || n === undefined) return "—";
  return counted(n, "credit");
}

export function seconds(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
}

const STATE_LABELS: Record<string, string> = {
  requested: "Requested",
  admitted: "Admitted",
  planning: "Planning",
  running: "Running",
  indexing: "Indexing",
  reporting: "Writing report",
  waiting_approval: "Awaiting approval",
  awaiting_plan_review: "Awaiting plan review",
  completed: "Completed",
  failed: "Failed",
  rejected: "Rejected",
  cancelled: "Cancelled",
  expired: "Expired",
};

export const stateLabel = (state: string): string => STATE_LABELS[state] ?? state;

export const TERMINAL = new Set(["completed", "failed", "rejected", "cancelled", "expired"]);

export function errorText(exc: unknown): string {
  if (exc instanceof Error) return exc.message;
  return String(exc);
}
