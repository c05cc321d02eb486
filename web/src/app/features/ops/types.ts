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
