/* The gateway's shapes (services/gateway/api/routes/*.py are the truth). */

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
