import { fireEvent, screen, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";

import { cleanUpEachTest, opsPerson } from "./testing/ops-people";
import { open, sent, serve, seriousViolations } from "./testing/test-utils";

cleanUpEachTest();

const OPERATOR = opsPerson(["runs:create", "ops:read"]);

const consumer = {
  stream: "QUARRY",
  name: "billing-lane",
  service: "billing",
  filter_subjects: ["task.v1.dispatched.billing"],
  ack_policy: "explicit",
  deliver_policy: "all",
  max_deliver: null,
  ack_wait_s: 30,
  pending: 4,
  ack_pending: 1,
  redelivered: 0,
  waiting: 0,
  delivered_seq: 10,
  delivered_at: "2026-12-07T09:00:00Z",
  ack_floor_seq: 9,
  ack_floor_at: "2026-12-07T09:00:00Z",
  oldest_pending_seq: 10,
  oldest_pending_at: "2026-12-07T08:59:00Z",
  lag_s: 60,
  created_at: null,
};

const sample = (minute: number, lag: number | null) => ({
  at: `2026-12-07T09:${String(minute).padStart(2, "0")}:00Z`,
  pending: 4,
  ack_pending: 1,
  redelivered: 0,
  lag_s: lag,
});

describe("a consumer's lag trend", () => {
  it("is read only when asked for, charted, and said in words", async () => {
    serve(
      {
        "/v1/ops/consumers": { consumers: [consumer], read_at: "2026-12-07T09:05:00Z" },
        "/v1/ops/consumers/QUARRY/billing-lane/trend": {
          stream: "QUARRY",
          name: "billing-lane",
          window_s: 3600,
          interval_s: 30,
          sampled: 3,
          points: [sample(1, 10), sample(2, null), sample(3, 75)],
          read_at: "2026-12-07T09:05:00Z",
        },
      },
      { me: OPERATOR },
    );
    open("/ops/consumers");
    const show = await screen.findByRole("button", { name: "Show trend of billing-lane" });
    expect(sent.some((r) => r.path.endsWith("/trend"))).toBe(false);
    fireEvent.click(show);
    const figure = await screen.findByRole("figure", { name: "Lag trend of billing-lane" });
    const text = "3 samples over the last hour; now 1 min 15 s behind; worst 1 min 15 s; falling behind; 1 unreadable.";
    expect(await within(figure).findByRole("img", { name: new RegExp(`^${text.replace(/[.;]/g, "\\$&")}`) })).toBeTruthy();
    fireEvent.change(within(figure).getByLabelText("Over the"), { target: { value: "86400" } });
    expect(await within(figure).findByText(/over the last 24 hours/)).toBeTruthy();
    expect(show.getAttribute("aria-expanded")).toBe("true");
    expect(await seriousViolations()).toEqual([]);
  });
});

describe("the services", () => {
  it("show each service's state, instances, last heartbeat and restarts", async () => {
    const instance = (id: string, state: string, health: string, silent: number) => ({
      instance: id,
      state,
      health,
      reasons: health === "not_ready" ? ["store: failed"] : [],
      version: "0.1.0",
      started_at: "2026-12-07T08:00:00Z",
      last_heartbeat: "2026-12-07T09:00:00Z",
      silent_s: silent,
      interval_s: 10,
    });
    serve(
      {
        "/v1/ops/services": {
          window_s: 86400,
          read_at: "2026-12-07T09:00:05Z",
          services: [
            {
              service: "billing",
              state: "degraded",
              alive: 1,
              last_heartbeat: "2026-12-07T09:00:00Z",
              starts: 2,
              gone: 1,
              restarts: 1,
              instances: [instance("b2b2b2b2b2", "alive", "not_ready", 1), instance("a1a1a1a1a1", "stale", "ok", 600)],
            },
            { service: "policy", state: "unknown", alive: 0, last_heartbeat: null, starts: 0, gone: 0, restarts: 0, instances: [] },
          ],
        },
      },
      { me: OPERATOR },
    );
    open("/ops/services");
    const table = await screen.findByRole("region", { name: "Services table" });
    const billing = within(table).getByRole("row", { name: /^billing/ });
    expect(within(billing).getByText("degraded (1 alive, not all healthy)")).toBeTruthy();
    expect(within(billing).getByText("1 restart of 2 starts in 1 d")).toBeTruthy();
    expect(within(billing).getByText(/not ready, version 0\.1\.0/)).toBeTruthy();
    expect(within(billing).getByText(/stale, version 0\.1\.0, silent 10 min/)).toBeTruthy();
    const policy = within(table).getByRole("row", { name: /^policy/ });
    expect(within(policy).getByText("no heartbeat heard")).toBeTruthy();
    expect(screen.getByRole("link", { name: "Services" }).getAttribute("aria-current")).toBe("page");
    expect(await seriousViolations()).toEqual([]);
  });
});
