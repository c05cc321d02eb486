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

// The shapes are in their own module; callers import both from here.
export type * from "./types/api";
