/* The console's health views in words and numbers: a consumer's lag trend as chart points and as
 * the sentence that stands in for the chart, and a service's state as an operator reads it. */

import { duration, lagText } from "./logic";
import type { InstanceHealth, LagPoint, OpsService, ServiceInstance } from "./health-types";

/** The windows an operator picks a trend over, in seconds, with their names. */
export const TREND_WINDOWS: readonly (readonly [number, string])[] = [
  [3600, "last hour"],
  [6 * 3600, "last 6 hours"],
  [86400, "last 24 hours"],
];

export interface TrendPoint {
  at: number;
  /** Seconds behind; null when the sample could not read the oldest message owed. */
  lag: number | null;
  pending: number;
}

/** The samples with a time and in time order (the API sends them so; a bad time is dropped). */
export function trendPoints(points: readonly LagPoint[]): TrendPoint[] {
  return points
    .map((p) => ({ at: Date.parse(p.at), lag: p.lag_s, pending: p.pending + p.ack_pending }))
    .filter((p) => Number.isFinite(p.at))
    .sort((a, b) => a.at - b.at);
}

/** What the chart shows, said in one sentence: its span, the latest lag, the worst, and whether
 * the consumer is falling behind or catching up. */
export function trendText(points: readonly TrendPoint[], windowName: string): string {
  const known = points.filter((p): p is TrendPoint & { lag: number } => p.lag !== null);
  if (!points.length) return `No sample in the ${windowName} yet.`;
  const last = points[points.length - 1];
  const latest = last && last.lag !== null ? lagText(last.lag) : "unknown";
  const unread = points.length - known.length;
  const parts = [`${String(points.length)} samples over the ${windowName}`, `now ${latest}`];
  if (known.length) parts.push(`worst ${duration(Math.max(...known.map((p) => p.lag)))}`);
  parts.push(direction(known));
  if (unread) parts.push(`${String(unread)} unreadable`);
  return `${parts.join("; ")}.`;
}

function direction(known: readonly { lag: number }[]): string {
  if (known.length < 2) return "no trend yet";
  const first = known[0]?.lag ?? 0;
  const last = known[known.length - 1]?.lag ?? 0;
  if (last === 0 && first === 0) return "caught up throughout";
  if (last > first) return "falling behind";
  if (last < first) return "catching up";
  return "steady";
}

const HEALTH_TEXT: Record<InstanceHealth, string> = {
  ok: "healthy",
  not_ready: "not ready",
  not_live: "not live",
  unknown: "no probe",
  stopped: "stopped",
};

export function healthText(health: InstanceHealth): string {
  return HEALTH_TEXT[health];
}

/** A service's state in words: how many instances are alive, or why none is. */
export function serviceStateText(service: OpsService): string {
  switch (service.state) {
    case "up":
      return `up (${String(service.alive)} alive)`;
    case "degraded":
      return `degraded (${String(service.alive)} alive, not all healthy)`;
    case "down":
      return "down: no instance alive";
    default:
      return "no heartbeat heard";
  }
}

/** One instance in a line: its state, health, version and how long it has been silent. */
export function instanceText(instance: ServiceInstance): string {
  const state = instance.state === "alive" ? healthText(instance.health) : instance.state;
  const silent = instance.state === "alive" ? "" : `, silent ${duration(instance.silent_s)}`;
  return `${state}, version ${instance.version}${silent}`;
}

/** Restarts over the window as an operator reads them ("2 restarts of 3 starts in 24 h"). */
export function restartsText(service: OpsService, windowS: number): string {
  const restarts = service.restarts === 1 ? "1 restart" : `${String(service.restarts)} restarts`;
  const starts = service.starts === 1 ? "1 start" : `${String(service.starts)} starts`;
  return `${restarts} of ${starts} in ${duration(windowS)}`;
}
