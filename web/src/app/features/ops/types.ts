/* The operators' routes' shapes (services/gateway/api/models/ops.py and ops_events.py are the truth). */

export interface StreamLimits {
  max_msgs: number | null;
  max_bytes: number | null;
  max_age_s: number | null;
  max_msgs_per_subject: number | null;
  max_msg_size: number | null;
  discard: string;
  retention: string;
  storage: string;
}

export interface OpsStream {
  name: string;
  subjects: string[];
  messages: number;
  bytes: number;
  first_seq: number;
  first_at: string | null;
  last_seq: number;
  last_at: string | null;
  deleted: number;
  subject_count: number;
  consumer_count: number;
  replicas: number;
  limits: StreamLimits;
  created_at: string | null;
}

export interface OpsConsumer {
  stream: string;
  name: string;
  service: string | null;
  filter_subjects: string[];
  ack_policy: string;
  deliver_policy: string;
  max_deliver: number | null;
  ack_wait_s: number;
  pending: number;
  ack_pending: number;
  redelivered: number;
  waiting: number;
  delivered_seq: number;
  delivered_at: string | null;
  ack_floor_seq: number;
  ack_floor_at: string | null;
  oldest_pending_seq: number | null;
  oldest_pending_at: string | null;
  lag_s: number | null;
  created_at: string | null;
}

export interface Envelope {
  event_id: string | null;
  type: string | null;
  schema_version: number | null;
  occurred_at: string | null;
  tenant_id: string | null;
  run_id: string | null;
  causation_id: string | null;
  actor_user_id: string | null;
  actor_agent: string | null;
  size: number | null;
  payload_size: number | null;
  headers: Record<string, string>;
  malformed: boolean;
  /** Tenant data: null unless the caller may read payloads (platform_admin). */
  payload: unknown;
}

export interface OpsEvent extends Envelope {
  stream: string;
  seq: number;
  subject: string;
  stored_at: string;
}

export interface EventPage {
  events: OpsEvent[];
  next_before: number | null;
  scanned: number;
  last_seq: number;
}

export interface CorrelatedEvent extends Envelope {
  stream: string | null;
  seq: number | null;
  subject: string | null;
  stored_at: string | null;
  in_stream: boolean;
  gap_s: number | null;
}

export interface Correlation {
  run_id: string;
  events: CorrelatedEvent[];
  domains: string[];
}

export interface DeadLetter {
  seq: number;
  service: string;
  reason: string;
  subject: string | null;
  original_seq: number | null;
  dead_at: string;
  state: string;
  handled_by: string | null;
  handled_at: string | null;
  redrives: number;
  event: Envelope;
}

export interface DeadLetterPage {
  letters: DeadLetter[];
  next_before: number | null;
  scanned: number;
}

export interface Redriven {
  seq: number;
  subject: string;
  stored: boolean;
}

export interface Discarded {
  seq: number;
  state: string;
}

/* Replays (services/gateway/api/models/ops_replays.py). */

export type ReplayState = "running" | "identical" | "different" | "failed" | "abandoned";

export interface ReplayReport {
  messages: number;
  applied: number;
  unparsable: number;
  first_seq: number;
  last_seq: number;
  runs_live: number;
  runs_rebuilt: number;
  documents_live: number;
  documents_rebuilt: number;
  monitors_live: number;
  monitors_rebuilt: number;
  rebuild_s: number;
  compare_s: number;
  identical: boolean;
  difference_count: number;
  /** Read-model values: tenant data, shown as text only. */
  differences: string[];
  error: string | null;
}

export interface Replay {
  replay_id: string;
  requested_by: string;
  started_at: string;
  updated_at: string;
  finished_at: string | null;
  state: ReplayState;
  messages: number;
  first_seq: number;
  last_seq: number;
  report: ReplayReport | null;
}

/* The platform audit log (services/gateway/api/models/audit.py, PlatformAudit*). */

export interface PlatformAuditEntry {
  seq: number;
  at: string;
  kind: string;
  actor: { user_id: string | null; name: string };
  source_address: string;
  target: string | null;
  detail: Record<string, unknown>;
}

export interface PlatformAuditPage {
  entries: PlatformAuditEntry[];
  next_before: number | null;
}
