import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { api, ApiError, readCookie, safeNext, setUnauthorizedHandler } from "./api";

interface Seen {
  url: string;
  method: string;
  headers: Record<string, string>;
  credentials: RequestCredentials | undefined;
  body: unknown;
}

// The network is the only stand-in: a fetch that records each request and answers as told.
function network(status: number, body: unknown): Seen[] {
  const seen: Seen[] = [];
  vi.stubGlobal("fetch", (url: string, init: RequestInit) => {
    seen.push({
      url,
      method: init.method ?? "GET",
      headers: init.headers as Record<string, string>,
      credentials: init.credentials,
      body: typeof init.body === "string" ? JSON.parse(init.body) : null,
    });
    return Promise.resolve(
      new Response(body === undefined ? null : JSON.stringify(body), {
        status,
        headers: { "Content-Type": "application/json" },
      }),
    );
  });
  return seen;
}

function clearCookies() {
  for (const name of ["quarry_csrf", "other"]) document.cookie = `${name}=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/`;
}

describe("the API client", () => {
  const redirects: string[] = [];
  beforeEach(() => {
    redirects.length = 0;
    setUnauthorizedHandler((url) => redirects.push(url));
    clearCookies();
    window.history.replaceState(null, "", "/research/runs/r1?tab=report");
  });
  afterEach(() => {
    vi.unstubAllGlobals();
    clearCookies();
  });

  it("sends the CSRF cookie's value as X-CSRF-Token on a mutating call", async () => {
    document.cookie = "other=1; path=/";
    document.cookie = "quarry_csrf=tok%2Ben-123; path=/";
    const seen = network(202, { run_id: "r1" });
    const answer = await api<{ run_id: string }>("/v1/runs", { method: "POST", body: { question: "why?" } });
    expect(answer.run_id).toBe("r1");
    expect(seen).toHaveLength(1);
    expect(seen[0]?.headers["X-CSRF-Token"]).toBe("tok+en-123");
    expect(seen[0]?.credentials).toBe("same-origin");
    expect(seen[0]?.body).toEqual({ question: "why?" });
  });

  it("sends no CSRF header on a GET", async () => {
    document.cookie = "quarry_csrf=abc; path=/";
    const seen = network(200, { runs: [] });
    await api("/v1/runs");
    expect(seen[0]?.headers["X-CSRF-Token"]).toBeUndefined();
    expect(seen[0]?.method).toBe("GET");
  });

  it("turns a refusal into an ApiError with the server's detail", async () => {
    network(403, { detail: "missing or wrong CSRF token" });
    const error = await api("/v1/runs", { method: "POST", body: {} }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(403);
    expect((error as ApiError).detail).toBe("missing or wrong CSRF token");
    expect(redirects).toEqual([]);
  });

  it("joins FastAPI's validation errors into one readable detail", async () => {
    network(422, { detail: [{ loc: ["body", "question"], msg: "String should have at least 3 characters" }] });
    const error = (await api("/v1/runs", { method: "POST", body: {} }).catch((e: unknown) => e)) as ApiError;
    expect(error.detail).toBe("question: String should have at least 3 characters");
  });

  it("sends a 401 to the login page, coming back to the current page", async () => {
    network(401, { detail: "not authenticated" });
    const error = (await api("/v1/billing/summary").catch((e: unknown) => e)) as ApiError;
    expect(error.status).toBe(401);
    expect(redirects).toEqual([`/login?next=${encodeURIComponent("/research/runs/r1?tab=report")}`]);
  });

  it("leaves a 401 the caller expects (a wrong password) on the page", async () => {
    network(401, { detail: "wrong email or password" });
    const error = (await api("/v1/auth/login", { method: "POST", body: {}, allowUnauthorized: true }).catch(
      (e: unknown) => e,
    )) as ApiError;
    expect(error.detail).toBe("wrong email or password");
    expect(redirects).toEqual([]);
  });

  it("says when the server cannot be reached", async () => {
    vi.stubGlobal("fetch", () => Promise.reject(new TypeError("Failed to fetch")));
    const error = (await api("/v1/runs").catch((e: unknown) => e)) as ApiError;
    expect(error.status).toBe(0);
    expect(error.detail).toMatch(/could not be reached/);
  });
});

describe("readCookie", () => {
  it("finds a cookie among others", () => {
    expect(readCookie("quarry_csrf", "a=1; quarry_csrf=xyz; b=2")).toBe("xyz");
    expect(readCookie("quarry_csrf", "a=1")).toBeNull();
  });
});

describe("safeNext", () => {
  it("follows a path on this origin", () => {
    expect(safeNext("/billing")).toBe("/billing");
    expect(safeNext("/research?q=solar%20cells")).toBe("/research?q=solar%20cells");
  });

  it.each([
    "https://evil.example/",
    "//evil.example/x",
    "/\\evil.example",
    "\\\\evil.example",
    "javascript:alert(1)",
    "/\t/evil.example",
    "research",
    "",
  ])("refuses %j", (next) => {
    expect(safeNext(next)).toBe("/research");
  });

  it("refuses a missing next", () => {
    expect(safeNext(null)).toBe("/research");
  });
});
