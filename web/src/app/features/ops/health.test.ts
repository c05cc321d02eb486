import { describe, expect, it } from "vitest";

import { instanceText, restartsText, serviceStateText, trendPoints, trendText } from "./health";
import type { OpsService, ServiceInstance } from "./health-types";

const point = (minute: number, lag: number | null, pending = 1) => ({
  at: `2026-12-07T09:${String(minute).padStart(2, "0")}:00Z`,
  pending,
  ack_pending: 0,
  redelivered: 0,
  lag_s: lag,
});

describe("a consumer's lag trend", () => {
  it("is put in time order and drops a sample without a time", () => {
    const points = trendPoints([point(3, 5), point(1, 2), { ...point(2, 1), at: "not a time" }]);
    expect(points.map((p) => p.lag)).toEqual([2, 5]);
  });

  it("says what the chart shows: latest, worst, direction and unreadable samples", () => {
    const text = trendText(trendPoints([point(1, 10), point(2, 300), point(3, null), point(4, 60)]), "last hour");
    expect(text).toBe("4 samples over the last hour; now 1 min behind; worst 5 min; falling behind; 1 unreadable.");
    expect(trendText(trendPoints([point(1, 90), point(2, 0)]), "last hour")).toContain("now caught up; worst 1 min 30 s; catching up");
    expect(trendText(trendPoints([point(1, 0), point(2, 0)]), "last hour")).toContain("caught up throughout");
    expect(trendText([], "last 24 hours")).toBe("No sample in the last 24 hours yet.");
  });
});

const instance = (over: Partial<ServiceInstance>): ServiceInstance => ({
  instance: "a1",
  state: "alive",
  health: "ok",
  reasons: [],
  version: "0.1.0",
  started_at: "2026-12-07T08:00:00Z",
  last_heartbeat: "2026-12-07T09:00:00Z",
  silent_s: 2,
  interval_s: 10,
  ...over,
});

const service = (over: Partial<OpsService>): OpsService => ({
  service: "billing",
  state: "up",
  alive: 2,
  last_heartbeat: "2026-12-07T09:00:00Z",
  starts: 3,
  gone: 1,
  restarts: 1,
  instances: [],
  ...over,
});

describe("a service's health", () => {
  it("reads as its state with the instances alive", () => {
    expect(serviceStateText(service({}))).toBe("up (2 alive)");
    expect(serviceStateText(service({ state: "down", alive: 0 }))).toBe("down: no instance alive");
    expect(serviceStateText(service({ state: "unknown", alive: 0 }))).toBe("no heartbeat heard");
  });

  it("tells an alive instance's health and a gone one's silence", () => {
    expect(instanceText(instance({ health: "not_ready" }))).toBe("not ready, version 0.1.0");
    expect(instanceText(instance({ state: "stale", silent_s: 125 }))).toBe("stale, version 0.1.0, silent 2 min 5 s");
  });

  it("counts restarts against starts over the window", () => {
    expect(restartsText(service({}), 86400)).toBe("1 restart of 3 starts in 1 d");
    expect(restartsText(service({ restarts: 0, starts: 1 }), 3600)).toBe("0 restarts of 1 start in 1 h");
  });
});
