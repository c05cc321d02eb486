/* The workspace as the component tests drive it: a fake gateway behind `fetch`, the app's routes
 * in a memory router, and axe-core's serious findings. */
import { render } from "@testing-library/react";
import axe from "axe-core";
import { createMemoryRouter, RouterProvider } from "react-router";
import { vi } from "vitest";

import { setUnauthorizedHandler } from "../api";
import { routes } from "../routes";
import { SessionProvider } from "../session";

export interface Sent {
  method: string;
  path: string;
  body: unknown;
}

/** Every request the pages made since the last `serve`, in order. */
export const sent: Sent[] = [];

export const mutations = () => sent.filter((s) => s.method !== "GET");

export interface GatewayOptions {
  /** Who /v1/auth/me says is signed in when the answers do not say; unset: nobody (401). */
  me?: unknown;
  /** The answer to a mutation the answers do not name; unset: 204 with no body. */
  mutated?: (request: Sent) => unknown;
}

/** The gateway as the routes answer. `answers` is keyed "METHOD /path" (or "/path" for a GET);
 * each is a body, `{status, body}`, or a function of the request giving either. A string body is
 * served as Markdown, anything else as JSON; a GET nobody answers is 404. */
export function serve(answers: Record<string, unknown>, options: GatewayOptions = {}) {
  sent.length = 0;
  vi.stubGlobal("fetch", (url: string, init?: RequestInit) => {
    const method = (init?.method ?? "GET").toUpperCase();
    const path = new URL(url, "http://localhost").pathname;
    const request = { method, path, body: typeof init?.body === "string" ? (JSON.parse(init.body) as unknown) : null };
    sent.push(request);
    let answer = answers[`${method} ${path}`] ?? (method === "GET" ? answers[path] : options.mutated?.(request));
    if (path === "/v1/auth/me" && answer === undefined) answer = options.me ?? { status: 401, body: { detail: "not signed in" } };
    if (typeof answer === "function") answer = (answer as (s: Sent) => unknown)(request);
    let status = answer === undefined ? (method === "GET" ? 404 : 204) : 200;
    let body: unknown = answer ?? (status === 404 ? { detail: "not found" } : null);
    if (answer && typeof answer === "object" && "status" in answer && "body" in answer) {
      status = (answer as { status: number }).status;
      body = (answer as { body: unknown }).body;
    }
    if (typeof body === "string") {
      return Promise.resolve(new Response(body, { status, headers: { "Content-Type": "text/markdown" } }));
    }
    return Promise.resolve(
      new Response(status === 204 || body === null ? null : JSON.stringify(body), {
        status,
        headers: { "Content-Type": "application/json" },
      }),
    );
  });
  // jsdom has no EventSource: one that never connects leaves the page on its view.
  vi.stubGlobal(
    "EventSource",
    class {
      readyState = 0;
      onopen = null;
      onerror = null;
      addEventListener() {
        /* no events in these tests */
      }
      close() {
        this.readyState = 2;
      }
    },
  );
}

/** The app at `path`, as a signed-in browser would open it. */
export function open(path: string) {
  const router = createMemoryRouter(routes, { initialEntries: [path] });
  setUnauthorizedHandler((url) => void router.navigate(url));
  render(
    <SessionProvider>
      <RouterProvider router={router} />
    </SessionProvider>,
  );
  return router;
}

export async function seriousViolations(): Promise<string[]> {
  // jsdom cannot compute colours; contrast is checked in the browser tests.
  // label-content-name-mismatch measures glyphs on a canvas, which jsdom lacks.
  const result = await axe.run(document.body, {
    rules: { "color-contrast": { enabled: false }, "label-content-name-mismatch": { enabled: false } },
  });
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
}
