/* Datasets, templates, monitors and settings: each a list and a form to create. */

import { useCallback, useEffect, useId, useState, type ReactNode, type SyntheticEvent } from "react";
import { Link } from "react-router";

import { api, get, upload, type Dataset, type Monitor, type Template } from "../api";
import { errorText, when } from "../format";

// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- T names the listed rows for the caller
function useList<T>(path: string, key: string): { items: T[] | null; error: string; reload: () => Promise<void> } {
  const [items, setItems] = useState<T[] | null>(null);
  const [error, setError] = useState("");
  const reload = useCallback(
    () =>
      get<Record<string, T[]>>(path).then(
        (body) => {
          setItems(body[key] ?? []);
          setError("");
        },
        (exc: unknown) => {
          setError(errorText(exc));
        },
      ),
    [path, key],
  );
  useEffect(() => {
    void reload();
  }, [reload]);
  return { items, error, reload };
}

function Page({ title, children }: { title: string; children: ReactNode }) {
  useEffect(() => {
    document.title = `${title} · Quarry`;
  }, [title]);
  return (
    <main id="main">
      <h1>{title}</h1>
      {children}
    </main>
  );
}

function CreateForm({
  title,
  submitLabel,
  onSubmit,
  children,
}: {
  title: string;
  submitLabel: string;
  onSubmit: () => Promise<void>;
  children: ReactNode;
}) {
  const ids = useId();
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  async function submit(event: SyntheticEvent) {
    event.preventDefault();
    setError("");
    setBusy(true);
    try {
      await onSubmit();
    } catch (exc) {
      setError(errorText(exc));
    } finally {
      setBusy(false);
    }
  }
  return (
    <section aria-labelledby={`${ids}-h`} className="card">
      <h2 id={`${ids}-h`}>{title}</h2>
      <form onSubmit={(e) => void submit(e)}>
        {children}
        <div role="alert" className="error">
          {error}
        </div>
        <button type="submit" disabled={busy}>
          {submitLabel}
        </button>
      </form>
    </section>
  );
}

function Field({
  label,
  value,
  onChange,
  ...rest
}: {
  label: string;
  value: string;
  onChange: (v: string) => void;
  type?: string;
  required?: boolean;
  maxLength?: number;
  pattern?: string;
  min?: number;
  max?: number;
  hint?: string;
}) {
  const id = useId();
  const { hint, ...input } = rest;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        value={value}
        aria-describedby={hint ? `${id}-hint` : undefined}
        onChange={(e) => {
          onChange(e.target.value);
        }}
        {...input}
      />
      {hint ? (
        <p id={`${id}-hint`} className="hint">
          {hint}
        </p>
      ) : null}
    </div>
  );
}

export function DatasetsPage() {
  const { items, error, reload } = useList<Dataset>("/v1/datasets", "datasets");
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  return (
    <Page title="Datasets">
      <CreateForm
        title="New dataset"
        submitLabel="Create dataset"
        onSubmit={async () => {
          await api("/v1/datasets", { method: "POST", body: { name: name.trim(), description: description.trim() } });
          setName("");
          setDescription("");
          await reload();
        }}
      >
        <Field
          label="Name"
          value={name}
          onChange={setName}
          required
          maxLength={64}
          pattern="[a-z0-9][a-z0-9_.\-]{0,63}"
          hint="Lower-case letters, digits, '.', '_' and '-'."
        />
        <Field label="Description" value={description} onChange={setDescription} maxLength={2000} />
      </CreateForm>
      <section aria-labelledby="ds-list">
        <h2 id="ds-list">Your datasets</h2>
        {error ? <p role="alert">{error}</p> : null}
        {items?.length === 0 ? <p className="muted">No datasets yet.</p> : null}
        <ul>
          {items?.map((d) => (
            <li key={d.dataset_id}>
              <strong>{d.name}</strong> — {d.documents} documents
              {Object.keys(d.by_status).length
                ? ` (${Object.entries(d.by_status)
                    .map(([s, n]) => `${n} ${s}`)
                    .join(", ")})`
                : ""}
              {d.description ? <div className="muted">{d.description}</div> : null}
              <DatasetDocuments name={d.name} onChange={reload} />
              <button
                type="button"
                className="link-button"
                aria-label={`Delete dataset ${d.name}`}
                onClick={() => {
                  void api(`/v1/datasets/${encodeURIComponent(d.name)}`, { method: "DELETE" }).then(reload, reload);
                }}
              >
                Delete
              </button>
            </li>
          ))}
        </ul>
      </section>
    </Page>
  );
}

interface DocumentRow {
  document_id: string;
  title: string;
  status: string;
  reason: string | null;
  pages: number | null;
  chunks_done: number | null;
  chunks_total: number | null;
}

const DOCUMENT_SETTLED = new Set(["indexed", "rejected"]);
const MAX_UPLOAD_BYTES = 256 * 1024 * 1024;

/** A dataset's documents as they are indexed, and a file upload with its progress. */
function DatasetDocuments({ name, onChange }: { name: string; onChange: () => Promise<void> }) {
  const ids = useId();
  const path = `/v1/datasets/${encodeURIComponent(name)}`;
  const [documents, setDocuments] = useState<DocumentRow[]>([]);
  const [progress, setProgress] = useState<number | null>(null);
  const [message, setMessage] = useState("");
  const [version, setVersion] = useState(0);
  const pending = documents.some((d) => !DOCUMENT_SETTLED.has(d.status));

  useEffect(() => {
    const read = () =>
      get<{ documents: DocumentRow[] }>(`${path}/documents`).then(
        (r) => {
          setDocuments(r.documents);
        },
        (exc: unknown) => {
          setMessage(errorText(exc));
        },
      );
    void read();
    // Indexing takes a while: watch it while a document is still on its way.
    if (!pending) return;
    const timer = window.setInterval(() => void read(), 2000);
    return () => {
      window.clearInterval(timer);
    };
  }, [path, pending, version]);

  async function send(file: File) {
    setMessage("");
    if (file.size > MAX_UPLOAD_BYTES) {
      setMessage(`${file.name} is larger than a dataset accepts (256 MB).`);
      return;
    }
    const form = new FormData();
    form.append("file", file);
    setProgress(0);
    try {
      await upload(`${path}/files`, form, setProgress);
      setMessage(`${file.name} uploaded; indexing follows.`);
      setVersion((v) => v + 1);
      await onChange();
    } catch (exc) {
      setMessage(errorText(exc));
    } finally {
      setProgress(null);
    }
  }

  return (
    <div className="documents">
      <label htmlFor={`${ids}-file`}>Upload a file to {name}</label>
      <input
        id={`${ids}-file`}
        type="file"
        accept=".pdf,.html,.htm,.md,.markdown,.txt,application/pdf,text/html,text/markdown,text/plain"
        disabled={progress !== null}
        onChange={(e) => {
          const file = e.target.files?.[0];
          e.target.value = "";
          if (file) void send(file);
        }}
      />
      {progress !== null ? (
        <progress max={1} value={progress} aria-label={`Uploading to ${name}`}>
          {Math.round(progress * 100)}%
        </progress>
      ) : null}
      <p role="status" aria-live="polite">
        {message}
      </p>
      {documents.length ? (
        <ul>
          {documents.map((doc) => (
            <li key={doc.document_id}>
              {doc.title}: {doc.status}
              {doc.chunks_total ? ` (${doc.chunks_done ?? 0} of ${doc.chunks_total} chunks)` : ""}
              {doc.reason ? <span className="muted"> — {doc.reason}</span> : null}
            </li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

export function TemplatesPage() {
  const { items, error, reload } = useList<Template>("/v1/templates", "templates");
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [depth, setDepth] = useState("2");
  const [maxSources, setMaxSources] = useState("8");
  return (
    <Page title="Templates">
      <CreateForm
        title="New template"
        submitLabel="Create template"
        onSubmit={async () => {
          await api("/v1/templates", {
            method: "POST",
            body: { name: name.trim(), description: description.trim(), depth: Number(depth), max_sources: Number(maxSources) },
          });
          setName("");
          setDescription("");
          await reload();
        }}
      >
        <Field label="Name" value={name} onChange={setName} required maxLength={120} />
        <Field label="Description" value={description} onChange={setDescription} maxLength={2000} />
        <Field label="Depth" type="number" min={1} max={3} value={depth} onChange={setDepth} />
        <Field label="Maximum sources" type="number" min={1} max={50} value={maxSources} onChange={setMaxSources} />
      </CreateForm>
      <section aria-labelledby="tpl-list">
        <h2 id="tpl-list">Your templates</h2>
        {error ? <p role="alert">{error}</p> : null}
        {items?.length === 0 ? <p className="muted">No templates yet.</p> : null}
        <ul>
          {items?.map((t) => (
            <li key={t.template_id}>
              <strong>{t.name}</strong> <span className="muted">version {t.version}</span>
              {t.description ? <div className="muted">{t.description}</div> : null}
              <TemplateEditor template={t} onSaved={reload} />
            </li>
          ))}
        </ul>
      </section>
    </Page>
  );
}

// The fields of a template's body (PUT replaces the whole body, so edits start from all of them).
const TEMPLATE_BODY = ["name", "description", "depth", "max_sources", "sources", "length", "target_words", "outline", "tone"];

type TemplateBody = Record<string, unknown> & { name: string; description?: string; depth?: number | null; max_sources?: number | null };

function bodyOf(found: Record<string, unknown>): TemplateBody {
  const body: Record<string, unknown> = {};
  for (const key of TEMPLATE_BODY) if (found[key] !== undefined) body[key] = found[key];
  return { ...body, name: typeof found.name === "string" ? found.name : "" };
}

/** Edit a template (each save is a new version) and read its earlier versions. */
function TemplateEditor({ template, onSaved }: { template: Template; onSaved: () => Promise<void> }) {
  const ids = useId();
  const path = `/v1/templates/${encodeURIComponent(template.template_id)}`;
  const [editing, setEditing] = useState<TemplateBody | null>(null);
  const [older, setOlder] = useState<TemplateBody | null>(null);
  const [message, setMessage] = useState("");

  async function startEditing() {
    setMessage("");
    try {
      setEditing(bodyOf(await get<Record<string, unknown>>(path)));
    } catch (exc) {
      setMessage(errorText(exc));
    }
  }

  async function save(event: SyntheticEvent) {
    event.preventDefault();
    if (!editing) return;
    setMessage("");
    try {
      const saved = await api<{ version: number }>(path, { method: "PUT", body: editing });
      setEditing(null);
      setMessage(`Saved as version ${saved.version}.`);
      await onSaved();
    } catch (exc) {
      setMessage(errorText(exc));
    }
  }

  async function showVersion(version: string) {
    setOlder(null);
    if (!version) return;
    try {
      setOlder(bodyOf(await get<Record<string, unknown>>(`${path}?version=${version}`)));
    } catch (exc) {
      setMessage(errorText(exc));
    }
  }

  return (
    <div className="template-tools">
      {editing ? (
        <form onSubmit={(e) => void save(e)} aria-label={`Edit template ${template.name}`}>
          <Field label="Name" value={editing.name} onChange={(v) => { setEditing({ ...editing, name: v }); }} required maxLength={120} />
          <Field
            label="Description"
            value={editing.description ?? ""}
            onChange={(v) => { setEditing({ ...editing, description: v }); }}
            maxLength={2000}
          />
          <Field
            label="Depth"
            type="number"
            min={1}
            max={3}
            value={String(editing.depth ?? "")}
            onChange={(v) => { setEditing({ ...editing, depth: v ? Number(v) : null }); }}
          />
          <Field
            label="Maximum sources"
            type="number"
            min={1}
            max={50}
            value={String(editing.max_sources ?? "")}
            onChange={(v) => { setEditing({ ...editing, max_sources: v ? Number(v) : null }); }}
          />
          <button type="submit">Save as a new version</button>
          <button type="button" className="link-button" onClick={() => { setEditing(null); }}>
            Stop editing
          </button>
        </form>
      ) : (
        <button type="button" className="link-button" aria-label={`Edit template ${template.name}`} onClick={() => void startEditing()}>
          Edit
        </button>
      )}
      {template.version > 1 ? (
        <div>
          <label htmlFor={`${ids}-v`}>Earlier version of {template.name}</label>
          <select id={`${ids}-v`} defaultValue="" onChange={(e) => void showVersion(e.target.value)}>
            <option value="">Choose…</option>
            {Array.from({ length: template.version - 1 }, (_, i) => i + 1).map((v) => (
              <option key={v} value={v}>
                Version {v}
              </option>
            ))}
          </select>
          {older ? (
            <p className="muted">
              {older.name}: depth {older.depth ?? "default"}, {older.max_sources ?? "default"} sources
              {older.description ? ` — ${older.description}` : ""}
            </p>
          ) : null}
        </div>
      ) : null}
      <p role="status" aria-live="polite">
        {message}
      </p>
    </div>
  );
}

export function MonitorsPage() {
  const { items, error, reload } = useList<Monitor>("/v1/monitors", "monitors");
  const [question, setQuestion] = useState("");
  const [schedule, setSchedule] = useState("");
  const [interval, setInterval] = useState("86400");
  return (
    <Page title="Monitors">
      <CreateForm
        title="New monitor"
        submitLabel="Create monitor"
        onSubmit={async () => {
          const body = schedule.trim()
            ? { question: question.trim(), cron: schedule.trim() }
            : { question: question.trim(), interval_s: Number(interval) };
          await api("/v1/monitors", { method: "POST", body });
          setQuestion("");
          await reload();
        }}
      >
        <Field label="Question" value={question} onChange={setQuestion} required maxLength={2000} />
        <Field
          label="Cron schedule"
          value={schedule}
          onChange={setSchedule}
          maxLength={120}
          hint="Five fields, UTC (for example 0 8 * * 1). Leave empty to use the interval."
        />
        <Field label="Interval in seconds" type="number" min={1} value={interval} onChange={setInterval} />
      </CreateForm>
      <section aria-labelledby="mon-list">
        <h2 id="mon-list">Your monitors</h2>
        {error ? <p role="alert">{error}</p> : null}
        {items?.length === 0 ? <p className="muted">No monitors yet.</p> : null}
        <ul>
          {items?.map((m) => {
            const paused = m.status === "paused";
            return (
              <li key={m.monitor_id}>
                <strong>{m.question}</strong>{" "}
                <span className="muted">
                  {m.schedule.cron ? `cron ${m.schedule.cron}` : `every ${m.schedule.interval_s ?? "?"} s`} · {m.status}
                  {m.next_slot ? ` · next ${when(m.next_slot)}` : ""}
                </span>{" "}
                <button
                  type="button"
                  className="link-button"
                  aria-label={`${paused ? "Resume" : "Pause"} monitor: ${m.question}`}
                  onClick={() => {
                    void api(`/v1/monitors/${encodeURIComponent(m.monitor_id)}/${paused ? "resume" : "pause"}`, {
                      method: "POST",
                      body: {},
                    }).then(reload, reload);
                  }}
                >
                  {paused ? "Resume" : "Pause"}
                </button>
                {m.runs.length ? (
                  <ul aria-label={`Runs started by the monitor: ${m.question}`}>
                    {m.runs.slice(-10).reverse().map((r) => (
                      <li key={r.slot}>
                        {when(r.slot)}:{" "}
                        {r.run_id ? <Link to={`/research/runs/${r.run_id}`}>run {r.run_id.slice(0, 8)}</Link> : "no run (skipped)"}
                      </li>
                    ))}
                  </ul>
                ) : null}
              </li>
            );
          })}
        </ul>
      </section>
    </Page>
  );
}

interface TenantSettings {
  approval_required: boolean;
  approval_timeout_s: number;
  pii_policy: "redact" | "block";
  sources?: string[] | null;
}

export function SettingsPage() {
  const ids = useId();
  const [settings, setSettings] = useState<TenantSettings | null>(null);
  const [message, setMessage] = useState("");
  const keys = useList<{ key_id: string; name: string; scopes: string[]; status?: string }>("/v1/keys", "keys");
  const members = useList<{ user_id: string; email: string; role: string; status: string }>("/v1/members", "members");
  const [inviteEmail, setInviteEmail] = useState("");
  const [inviteRole, setInviteRole] = useState("member");
  const [invite, setInvite] = useState("");
  const [keyName, setKeyName] = useState("");
  const [newKey, setNewKey] = useState("");

  useEffect(() => {
    get<TenantSettings>("/v1/tenant/settings").then(setSettings, (exc: unknown) => {
      setMessage(errorText(exc));
    });
  }, []);

  async function save(event: SyntheticEvent) {
    event.preventDefault();
    if (!settings) return;
    setMessage("");
    try {
      setSettings(
        await api<TenantSettings>("/v1/tenant/settings", {
          method: "PATCH",
          body: { approval_required: settings.approval_required, pii_policy: settings.pii_policy },
        }),
      );
      setMessage("Saved.");
    } catch (exc) {
      setMessage(errorText(exc));
    }
  }

  return (
    <Page title="Settings">
      <section aria-labelledby={`${ids}-h`} className="card">
        <h2 id={`${ids}-h`}>Workspace defaults</h2>
        {settings ? (
          <form onSubmit={(e) => void save(e)}>
            <div className="check">
              <input
                id={`${ids}-appr`}
                type="checkbox"
                checked={settings.approval_required}
                onChange={(e) => {
                  setSettings({ ...settings, approval_required: e.target.checked });
                }}
              />
              <label htmlFor={`${ids}-appr`}>Runs wait for approval before publishing</label>
            </div>
            <label htmlFor={`${ids}-pii`}>Personal data found in a report</label>
            <select
              id={`${ids}-pii`}
              value={settings.pii_policy}
              onChange={(e) => {
                setSettings({ ...settings, pii_policy: e.target.value === "block" ? "block" : "redact" });
              }}
            >
              <option value="redact">Redact it</option>
              <option value="block">Block publishing</option>
            </select>
            <button type="submit">Save settings</button>
          </form>
        ) : null}
        <p role="status" aria-live="polite">
          {message}
        </p>
      </section>
      <section aria-labelledby={`${ids}-members`} className="card">
        <h2 id={`${ids}-members`}>Members</h2>
        {members.error ? <p role="alert">{members.error}</p> : null}
        <ul>
          {members.items?.map((m) => (
            <li key={m.user_id}>
              {m.email} <span className="muted">· {m.role} · {m.status}</span>
            </li>
          ))}
        </ul>
      </section>
      <CreateForm
        title="Invite a member"
        submitLabel="Invite"
        onSubmit={async () => {
          setInvite("");
          const made = await api<{ invite_token: string }>("/v1/members", {
            method: "POST",
            body: { email: inviteEmail.trim(), role: inviteRole },
          });
          setInvite(made.invite_token);
          setInviteEmail("");
          await members.reload();
        }}
      >
        <Field label="Member's email" type="email" value={inviteEmail} onChange={setInviteEmail} required maxLength={254} />
        <label htmlFor={`${ids}-role`}>Role</label>
        <select
          id={`${ids}-role`}
          value={inviteRole}
          onChange={(e) => {
            setInviteRole(e.target.value);
          }}
        >
          <option value="viewer">Viewer</option>
          <option value="member">Member</option>
          <option value="admin">Admin</option>
        </select>
        {invite ? (
          <p role="status">
            Hand this invite token to them (shown once): <code>{invite}</code>
          </p>
        ) : null}
      </CreateForm>
      <CreateForm
        title="New API key"
        submitLabel="Create key"
        onSubmit={async () => {
          setNewKey("");
          const made = await api<{ api_key: string }>("/v1/keys", {
            method: "POST",
            body: { name: keyName.trim(), scopes: ["runs:read", "runs:create"] },
          });
          setNewKey(made.api_key);
          setKeyName("");
          await keys.reload();
        }}
      >
        <Field
          label="Key name"
          value={keyName}
          onChange={setKeyName}
          required
          maxLength={120}
          hint="The key may read and start runs as you. Programs send it as a bearer token."
        />
        {newKey ? (
          <p role="status">
            Copy the key now; it is not shown again: <code>{newKey}</code>
          </p>
        ) : null}
      </CreateForm>
      <section aria-labelledby={`${ids}-keys`} className="card">
        <h2 id={`${ids}-keys`}>API keys</h2>
        {keys.error ? <p role="alert">{keys.error}</p> : null}
        {keys.items?.length === 0 ? <p className="muted">No API keys.</p> : null}
        <ul>
          {keys.items?.map((k) => (
            <li key={k.key_id}>
              <strong>{k.name}</strong> <span className="muted">{k.scopes.join(", ")}</span> {k.status ?? ""}
              {k.status === "revoked" || k.status === "expired" ? null : <button
                type="button"
                className="link-button"
                aria-label={`Revoke key ${k.name}`}
                onClick={() => {
                  void api(`/v1/keys/${encodeURIComponent(k.key_id)}`, { method: "DELETE" }).then(keys.reload, keys.reload);
                }}
              >
                Revoke
              </button>}
            </li>
          ))}
        </ul>
      </section>
    </Page>
  );
}
