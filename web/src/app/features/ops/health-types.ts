/* The operators' health routes' shapes (services/gateway/api/models/ops_health.py is the truth). */

export interface LagPoint {
  at: string;
  pending: number;
  ack_pending: number;
  redelivered: number;
  lag_s: number | null;
}

export interface ConsumerTrend {
  stream: string;
  name: string;
  window_s: number;
  interval_s: number;
  sampled: number;
  points: LagPoint[];
  read_at: string;
}

export type InstanceHealth = "ok" | "not_ready" | "not_live" | "unknown" | "stopped";

export interface ServiceInstance {
  instance: string;
  state: "alive" | "stale" | "stopped";
  health: InstanceHealth;
  reasons: string[];
  version: string;
  started_at: string;
  last_heartbeat: string;
  silent_s: number;
  interval_s: number;
}

export interface OpsService {
  service: string;
  state: "up" | "degraded" | "down" | "unknown";
  alive: number;
  last_heartbeat: string | null;
  starts: number;
  gone: number;
  restarts: number;
  instances: ServiceInstance[];
}

export interface ServiceList {
  services: OpsService[];
  window_s: number;
  read_at: string;
}
