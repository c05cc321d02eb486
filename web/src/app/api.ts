/* The workspace's only way to the gateway: same-origin fetch with the session cookie, the CSRF
 * header on every mutating call, JSON in and out, and one typed error for every refusal. */

export class ApiError extends Error {
  readonly status: number;
  readonly detail: string;

  constructor(status: number, detail: string) {
    super(detail);
    this.name = "ApiError";
    this.status = status;
    this.detail = detail;
  }
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);
export const CSRF_COOKIE = "quarry_csrf";
/** Dispatched on window when the server no longer knows the session (any 401). */
export const SESSION_LOST = "quarry:session-lost";

/** The value of a cookie readable by JavaScript (quarry_csrf is; quarry_session is HttpOnly). */
export function readCookie(name: string, source: string = document.cookie): string | null {
  for (const part of source.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return part.slice(eq + 1).trim();
      }
    }
  }
  return null;
}

/** A `next` target is followed only when it is a path on this origin: never `//host`, a scheme,
 * or a backslash trick that some browsers read as another host. */
export function safeNext(next: string | null | undefined, fallback = "/research"): string {
  if (!next || next.length > 2000) return fallback;
  if (!next.startsWith("/") || next.startsWith("//") || next.includes("\\")) return fallback;
  // Control characters (tabs, newlines) are stripped by URL parsers and could hide a `//`.
  for (let i = 0; i < next.length; i++) {
    const code = next.charCodeAt(i);
    if (code < 0x20 || code === 0x7f) return fallback;
  }
  try {
    const url = new URL(next, window.location.origin);
    if (url.origin !== window.location.origin) return fallback;
    return url.pathname + url.search + url.hash;
  } catch {
    return fallback;
  }
}

/** Where a 401 sends the browser: the login page, coming back here afterwards. */
export function loginUrl(current: string = window.location.pathname + window.location.search): string {
  return `/login?next=${encodeURIComponent(current)}`;
}

type Navigate = (url: string) => void;
let navigateOnUnauthorized: Navigate = (url) => {
  window.location.assign(url);
};

/** Tests and the router replace how a 401 moves the browser. */
export function setUnauthorizedHandler(handler: Navigate): void {
  navigateOnUnauthorized = handler;
}

function detailOf(body: unknown, fallback: string): string {
  if (typeof body === "object" && body !== null && "detail" in body) {
    const detail = body.detail;
    if (typeof detail === "string") return detail;
    // FastAPI's validation errors: a list of {loc, msg}.
    if (Array.isArray(detail)) {
      const msgs = detail
        .map((d: unknown) => {
          if (typeof d !== "object" || d === null) return "";
          const item = d as { msg?: unknown; loc?: unknown };
          const where = Array.isArray(item.loc) ? item.loc.filter((l) => l !== "body").join(".") : "";
          const msg = typeof item.msg === "string" ? item.msg : "";
          return where ? `${where}: ${msg}` : msg;
        })
        .filter(Boolean);
      if (msgs.length) return msgs.join("; ");
    }
  }
  return fallback;
}

export interface RequestOptions {
  method?: string;
  body?: unknown;
  /** A 401 here is an answer to show (wrong password), not a lost session. */
  allowUnauthorized?: boolean;
  signal?: AbortSignal;
}

export async function api<T>(path: string, options: RequestOptions = {}): Promise<T> {
  const method = (options.method ?? "GET").toUpperCase();
  const headers: Record<string, string> = { Accept: "application/json" };
  if (options.body !== undefined) headers["Content-Type"] = "application/json";
  if (!SAFE_METHODS.has(method)) {
    const csrf = readCookie(CSRF_COOKIE);
    if (csrf) headers["X-CSRF-Token"] = csrf;
  }
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: options.body === undefined ? null : JSON.stringify(options.body),
      signal: options.signal ?? null,
    });
  } catch (exc) {
    if (exc instanceof DOMException && exc.name === "AbortError") throw exc;
    throw new ApiError(0, "The server could not be reached. Check the connection and try again.");
  }
  const text = await response.text();
  let parsed: unknown = undefined;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
  }
  if (!response.ok) {
    const error = new ApiError(response.status, detailOf(parsed, `${response.status} ${response.statusText}`.trim()));
    if (response.status === 401 && !options.allowUnauthorized) {
      window.dispatchEvent(new Event(SESSION_LOST));
      navigateOnUnauthorized(loginUrl());
    }
    throw error;
  }
  return parsed as T;
}

export const get = <T>(path: string, signal?: AbortSignal): Promise<T> =>
  api<T>(path, signal ? { signal } : {});
export const post = <T>(path: string, body?: unknown): Promise<T> =>
  api<T>(path, { method: "POST", body: body ?? {} });

/* ---- the gateway's shapes (services/gateway/api/routes/*.py are the truth) ---- */

export interface Me {
  user_id: string;
  tenant_id: string;
  email: string;
  role: string;
  roles?: string[];
  permissions: string[];
  key_id: string | null;
  plan?: string | { name: string } | null;
}

export interface CookieSession {
  token_type: "cookie";
  expires_in: number;
  csrf_token: string;
}

export interface RunSummary {
  run_id: string;
  state: string;
  question: string;
  created_at: string | null;
  updated_at: string | null;
  error: string | null;
  title?: string | null;
  cost?: RunCost | null;
}

export interface RunCost {
  estimate: number | null;
  reserved: number;
  settled: number;
  refunded: number;
  closed: boolean;
}

export interface RunStep {
  step: string;
  status: string;
  detail: string | null;
  at: string;
}

export interface RunSource {
  number: number;
  source_id: string;
  title: string;
  location: string;
  url?: string | null;
  passage?: string | null;
}

export interface RunApproval {
  approval_id: string | null;
  subject: string | null;
  reason: string | null;
  deadline: string | null;
  status: string;
  decided_by?: string | null;
  comment?: string | null;
}

export interface RunView {
  run_id: string;
  user_id?: string;
  state: string;
  question: string | null;
  depth: number | null;
  max_sources: number | null;
  sub_questions: string[];
  steps: RunStep[];
  sources: RunSource[];
  passages_found: number;
  cost: RunCost;
  /** The report's files (path, sha256); the text is GET /v1/runs/{id}/report.md. */
  report: { title: string | null; markdown: unknown; pdf: unknown; docx: unknown } | null;
  approval: RunApproval | null;
  guardrails: { guardrail: string; where: string; action: string }[];
  cancel_requested: boolean;
  error: string | null;
  created_at: string | null;
  updated_at: string | null;
  as_of_seq?: number;
  events?: number;
  plan_review?: { sub_questions?: string[]; deadline?: string | null } | null;
}

export interface RunCreateBody {
  question: string;
  depth: number;
  max_sources: number;
  approval_required?: boolean;
  sources?: string[];
  length: string;
  datasets?: string[];
  template_id?: string;
  review_plan?: boolean;
}

export interface RunAccepted {
  run_id: string;
  state: string;
  links: Record<string, string>;
}

/** A share link; its token and url only in the answer that made it (the gateway keeps neither). */
export interface Share {
  share_id: string;
  token?: string;
  url?: string;
  created_at: string;
}

export interface SharedReport {
  question: string;
  title: string | null;
  completed_at: string | null;
  report_markdown: string;
  sources: { n: number; title: string; url: string | null; passage: string | null }[];
}

export interface LedgerEntry {
  seq: number;
  kind: string;
  at: string;
  amount: number;
  balance: number | null;
  run_id: string | null;
  question_id: string | null;
  actor: string;
  reason: string;
}

export interface BillingSummary {
  tenant_id: string;
  plan: { name: string; monthly_credits: number; concurrency: number; overage: boolean; tools: string[] };
  period: string;
  balance: number;
  reserved: number;
  budget: number;
  used_pct: number;
  tier: "allow" | "throttle" | "block";
  used_by_tool: Record<string, number>;
  used_by_run: Record<string, number>;
  overage: { credits: number; tokens: number; amount_usd: string };
  recent: LedgerEntry[];
  stripe_mode: "mock" | "live";
}

export interface LedgerPage {
  entries: LedgerEntry[];
  next_after: number | null;
}

export interface CheckoutReply {
  session_id: string | null;
  url: string | null;
  mode: "mock" | "live";
  completed: boolean;
}

export interface Dataset {
  dataset_id: string;
  name: string;
  description: string;
  created_at: string | null;
  documents: number;
  by_status: Record<string, number>;
}

export interface Template {
  template_id: string;
  name: string;
  version: number;
  description?: string;
  depth?: number | null;
  max_sources?: number | null;
}

export interface Monitor {
  monitor_id: string;
  question: string;
  schedule: { cron?: string; interval_s?: number };
  status: string;
  next_slot: string | null;
  runs: { slot: string; run_id: string | null }[];
}

/** A multipart upload with progress (fetch reports none): same cookie, CSRF and errors as `api`. */
export function upload<T>(path: string, form: FormData, onProgress: (fraction: number) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    xhr.withCredentials = true;
    xhr.setRequestHeader("Accept", "application/json");
    const csrf = readCookie(CSRF_COOKIE);
    if (csrf) xhr.setRequestHeader("X-CSRF-Token", csrf);
    xhr.upload.onprogress = (ev) => {
      if (ev.lengthComputable && ev.total > 0) onProgress(ev.loaded / ev.total);
    };
    xhr.onerror = () => {
      reject(new ApiError(0, "The upload could not reach the server."));
    };
    xhr.onload = () => {
      let parsed: unknown = undefined;
      try {
        parsed = xhr.responseText ? JSON.parse(xhr.responseText) : undefined;
      } catch {
        parsed = undefined;
      }
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(1);
        resolve(parsed as T);
        return;
      }
      if (xhr.status === 401) {
        window.dispatchEvent(new Event(SESSION_LOST));
        navigateOnUnauthorized(loginUrl());
      }
      reject(new ApiError(xhr.status, detailOf(parsed, `${xhr.status} ${xhr.statusText}`.trim())));
    };
    xhr.send(form);
  });
}

/** A document of a dataset (GET /v1/datasets/{name}/documents). */
export interface DatasetDocument {
  document_id: string;
  title: string;
  status: string;
  reason: string | null;
  pages: number | null;
  chunks_done: number | null;
  chunks_total: number | null;
}

/** POST /v1/datasets/{name}/documents: a typed or pasted document. */
export interface TextDocumentBody {
  title: string;
  content_type: "text/plain" | "text/markdown" | "text/html";
  content: string;
}

export type SourceKind = "corpus" | "datasets" | "web";

/** GET/PATCH /v1/tenant/settings. `sources: null` is the platform's default. */
export interface TenantSettings {
  approval_required: boolean;
  approval_timeout_s: number;
  pii_policy: "redact" | "block";
  sources: SourceKind[] | null;
}

/** GET/PUT /v1/tenant/model: never the API key itself, only whether one is set. */
export interface TenantModel {
  configured: boolean;
  base_url: string | null;
  model: string | null;
  api_key_set: boolean;
  api_key_last4: string | null;
  updated_at: string | null;
  updated_by: string | null;
}

export interface TenantModelBody {
  base_url: string;
  model: string;
  api_key?: string;
}

export type Role = "owner" | "admin" | "member" | "viewer";

/** GET /v1/members. */
export interface Member {
  user_id: string;
  email: string;
  role: Role;
  status: string;
  created_at: number | string | null;
}

export interface ApiKeyRow {
  key_id: string;
  name: string;
  scopes: string[];
  status?: string;
}
