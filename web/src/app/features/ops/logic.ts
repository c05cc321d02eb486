/* The operator console's pure pieces: who may do what, how bus figures read, the event browser's
 * filters as a query, the live tail's merge, and tenant payloads made into bounded text. */

import type { Me } from "../../api";
import type { OpsEvent, StreamLimits } from "./types";

export interface OpsAccess {
  /** May open the console (`ops:read`: platform_operator and platform_admin). */
  read: boolean;
  /** May redrive and discard dead letters (`ops:redrive`: platform_admin). */
  change: boolean;
  /** Is shown payloads (`ops:payload`: platform_admin). */
  payloads: boolean;
  /** May start and read replays of the event log (`ops:replay`: platform_admin). */
  replay: boolean;
  /** May read the platform's audit log (`ops:audit`: platform_admin). */
  audit: boolean;
  /** May start, pause, resume and abort rollouts of agent versions (`rollouts:manage`: platform_admin). */
  rollouts: boolean;
}

/** What the signed-in user may do in the console, from the permissions /v1/auth/me lists (the
 * gateway checks each route itself; this only decides what the pages offer). */
export function opsAccess(me: Me | null): OpsAccess {
  const held = new Set(me?.permissions ?? []);
  return {
    read: held.has("ops:read"),
    change: held.has("ops:redrive"),
    payloads: held.has("ops:payload"),
    replay: held.has("ops:replay"),
    audit: held.has("ops:audit"),
    rollouts: held.has("rollouts:manage"),
  };
}

const UNITS = ["B", "KB", "MB", "GB", "TB"] as const;

/** 1,536 -> "1.5 KB" (binary multiples, as JetStream counts its limits). */
export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return "—";
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const digits = unit === 0 || value >= 100 ? 0 : 1;
  return `${value.toFixed(digits)} ${UNITS[unit] ?? "B"}`;
}

/** A duration in seconds as an operator reads it: "0 s", "850 ms", "42 s", "3 min 5 s", "2 h 10 min", "4 d 3 h". */
export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
  if (seconds === 0) return "0 s";
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 60) return `${seconds < 10 ? seconds.toFixed(1).replace(/\.0$/, "") : Math.round(seconds)} s`;
  const whole = Math.round(seconds);
  const [big, small, bigUnit, smallUnit] =
    whole < 3600
      ? [Math.floor(whole / 60), whole % 60, "min", "s"]
      : whole < 86400
        ? [Math.floor(whole / 3600), Math.floor((whole % 3600) / 60), "h", "min"]
        : [Math.floor(whole / 86400), Math.floor((whole % 86400) / 3600), "d", "h"];
  return small ? `${big} ${bigUnit} ${small} ${smallUnit}` : `${big} ${bigUnit}`;
}

/** A consumer's lag: caught up, an age, or unknown. */
export function lagText(lag: number | null): string {
  if (lag === null) return "unknown";
  return lag === 0 ? "caught up" : `${duration(lag)} behind`;
}

/** A stream's limits in one line: only those set, then what a full stream does. */
export function limitsText(limits: StreamLimits): string {
  const set = [
    limits.max_msgs === null ? null : `${limits.max_msgs.toLocaleString()} messages`,
    limits.max_bytes === null ? null : bytes(limits.max_bytes),
    limits.max_age_s === null ? null : `${duration(limits.max_age_s)} old`,
    limits.max_msgs_per_subject === null ? null : `${limits.max_msgs_per_subject.toLocaleString()} per subject`,
    limits.max_msg_size === null ? null : `${bytes(limits.max_msg_size)} a message`,
  ].filter((part): part is string => part !== null);
  const kept = set.length ? `at most ${set.join(", ")}` : "no limit";
  return `${kept}; ${limits.retention} retention, ${limits.storage} storage, discards ${limits.discard} when full`;
}

/** The event browser's filters, as they stand in the page's address (so a view can be linked). */
export interface EventFilters {
  subject: string;
  tenant: string;
  run: string;
  type: string;
  /** `datetime-local` values, the browser's local time. */
  since: string;
  until: string;
  /** `path=value` on the payload, e.g. `tool=fetch_url`. */
  payload: string;
}

export const FILTER_NAMES = ["subject", "tenant", "run", "type", "since", "until", "payload"] as const;

export function filtersFrom(params: URLSearchParams): EventFilters {
  const read = (name: (typeof FILTER_NAMES)[number]) => params.get(name)?.trim() ?? "";
  return {
    subject: read("subject"),
    tenant: read("tenant"),
    run: read("run"),
    type: read("type"),
    since: read("since"),
    until: read("until"),
    payload: read("payload"),
  };
}

/** `tool=fetch_url` -> the API's `payload.tool=fetch_url`; null when it is no `path=value`. */
export function payloadFilter(text: string): [string, string] | null {
  const eq = text.indexOf("=");
  if (eq <= 0) return null;
  const path = text.slice(0, eq).trim().replace(/^payload\./, "");
  if (!path || !/^[A-Za-z0-9_.-]+$/.test(path)) return null;
  return [`payload.${path}`, text.slice(eq + 1).trim()];
}

function isoOf(local: string): string | null {
  const at = new Date(local);
  return Number.isNaN(at.getTime()) ? null : at.toISOString();
}

/** Why the filters cannot be asked as they stand, or "" when they can. */
export function filterProblem(filters: EventFilters): string {
  if (filters.payload && payloadFilter(filters.payload) === null) {
    return "A payload filter is a field and a value: tool=fetch_url (a nested field: usage.model=x).";
  }
  for (const name of ["since", "until"] as const) {
    if (filters[name] && isoOf(filters[name]) === null) return `${name === "since" ? "Since" : "Until"} is no date and time.`;
  }
  return "";
}

/** The query the API reads for these filters (without `before` or `after`): empty ones left out. */
export function eventQuery(filters: EventFilters): URLSearchParams {
  const query = new URLSearchParams();
  for (const name of ["subject", "tenant", "run", "type"] as const) {
    if (filters[name]) query.set(name, filters[name]);
  }
  for (const name of ["since", "until"] as const) {
    const at = filters[name] ? isoOf(filters[name]) : null;
    if (at) query.set(name, at);
  }
  const field = filters.payload ? payloadFilter(filters.payload) : null;
  if (field) query.set(field[0], field[1]);
  return query;
}

/** The live tail's events in front of those shown: newest first, each sequence once, at most `max`. */
export function mergeNewestFirst(shown: readonly OpsEvent[], arrived: readonly OpsEvent[], max: number): OpsEvent[] {
  const bySeq = new Map<number, OpsEvent>();
  for (const event of [...arrived, ...shown]) {
    if (!bySeq.has(event.seq)) bySeq.set(event.seq, event);
  }
  return [...bySeq.values()].sort((a, b) => b.seq - a.seq).slice(0, max);
}

/** Tenant data as text for a <pre>: JSON indented, cut at `max` characters with a note of how much
 * more there is. Never markup: the caller renders it as a text node. */
export function boundedText(value: unknown, max = 20_000): { text: string; cut: number } {
  let text: string;
  if (typeof value === "string") text = value;
  else {
    try {
      // undefined (no JSON for it) despite the declared type: then its plain text.
      const json = JSON.stringify(value, null, 2) as string | undefined;
      text = json ?? String(value);
    } catch {
      text = String(value);
    }
  }
  if (text.length <= max) return { text, cut: 0 };
  return { text: text.slice(0, max), cut: text.length - max };
}

/** A time to the second, as an operator compares events by it; "—" for none. */
export function instant(iso: string | null | undefined): string {
  if (!iso) return "—";
  const at = new Date(iso);
  if (Number.isNaN(at.getTime())) return iso;
  return at.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "medium" });
}

/** A short id for a table cell; the whole one is its title. */
export function shortId(id: string | null | undefined, keep = 12): string {
  if (!id) return "—";
  return id.length > keep ? `${id.slice(0, keep)}…` : id;
}

/** The dead-letter list's filters, as they stand in the page's address. */
export interface LetterFilters {
  service: string;
  subject: string;
  reason: string;
  state: string;
}

export const LETTER_STATES = ["open", "redriven", "discarded", "all"] as const;

export function letterFiltersFrom(params: URLSearchParams): LetterFilters {
  const state = params.get("state") ?? "open";
  return {
    service: params.get("service")?.trim() ?? "",
    subject: params.get("subject")?.trim() ?? "",
    reason: params.get("reason")?.trim() ?? "",
    state: (LETTER_STATES as readonly string[]).includes(state) ? state : "open",
  };
}

export function letterQuery(filters: LetterFilters): URLSearchParams {
  const query = new URLSearchParams();
  for (const name of ["service", "subject", "reason"] as const) {
    if (filters[name]) query.set(name, filters[name]);
  }
  if (filters.state !== "open") query.set("state", filters.state);
  return query;
}

/** The body of a bulk redrive or discard, or null when no filter narrows it (the API refuses
 * a bulk action on every letter, and so does the page). */
export function bulkFilter(filters: LetterFilters): { service?: string; subject?: string; reason?: string } | null {
  const body: { service?: string; subject?: string; reason?: string } = {};
  if (filters.service) body.service = filters.service;
  if (filters.subject) body.subject = filters.subject;
  if (filters.reason) body.reason = filters.reason;
  return Object.keys(body).length ? body : null;
}

/** "service gateway, reason containing “malformed”": what a bulk action would take, in words. */
export function describeFilter(body: { service?: string; subject?: string; reason?: string }): string {
  return [
    body.service ? `service ${body.service}` : null,
    body.subject ? `subject ${body.subject}` : null,
    body.reason ? `reason containing “${body.reason}”` : null,
  ]
    .filter(Boolean)
    .join(", ");
}
