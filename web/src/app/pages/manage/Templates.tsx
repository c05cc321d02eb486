/* Templates: create one, edit it (each save is a new version), read its earlier versions. */

import { useId, useState, type SyntheticEvent } from "react";

import { api, get, type Template } from "../../api";
import { errorText } from "../../format";
import { CreateForm, Field, ListSection, Page, useList } from "./shared";
import { Alert, Saved } from "../../components/ui/form";

export function TemplatesPage() {
  const list = useList<Template>("/v1/templates", "templates");
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const [depth, setDepth] = useState("2");
  const [maxSources, setMaxSources] = useState("8");

  async function create() {
    await api("/v1/templates", {
      method: "POST",
      body: { name: name.trim(), description: description.trim(), depth: Number(depth), max_sources: Number(maxSources) },
    });
    setName("");
    setDescription("");
  }

  return (
    <Page title="Templates">
      <CreateForm title="New template" submitLabel="Create template" list={list} onSubmit={create}>
        <Field label="Name" value={name} onChange={setName} required maxLength={120} />
        <Field label="Description" value={description} onChange={setDescription} maxLength={2000} />
        <Field label="Depth" type="number" min={1} max={3} value={depth} onChange={setDepth} />
        <Field label="Maximum sources" type="number" min={1} max={50} value={maxSources} onChange={setMaxSources} />
      </CreateForm>
      <ListSection heading="Your templates" list={list} empty="No templates yet.">
        {list.items?.map((t) => (
          <li key={t.template_id}>
            <strong>{t.name}</strong> <span className="muted">version {t.version}</span>
            {t.description ? <div className="muted">{t.description}</div> : null}
            <TemplateEditor template={t} onSaved={list.reload} />
          </li>
        ))}
      </ListSection>
    </Page>
  );
}

// The fields of a template's body (PUT replaces the whole body, so edits start from all of them).
const TEMPLATE_BODY = ["name", "description", "depth", "max_sources", "sources", "length", "target_words", "outline", "tone"];

type TemplateBody = Record<string, unknown> & { name: string; description?: string; depth?: number | null; max_sources?: number | null };

// The run settings a template may leave unset (the run's own default then applies): key, label, most.
const NUMBER_SETTINGS = [
  ["depth", "Depth", 3],
  ["max_sources", "Maximum sources", 50],
] as const;

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
  const [error, setError] = useState("");

  async function startEditing() {
    setMessage("");
    setError("");
    try {
      setEditing(bodyOf(await get<Record<string, unknown>>(path)));
    } catch (exc) {
      setError(errorText(exc));
    }
  }

  async function save(event: SyntheticEvent) {
    event.preventDefault();
    if (!editing) return;
    setMessage("");
    setError("");
    try {
      const saved = await api<{ version: number }>(path, { method: "PUT", body: editing });
      setEditing(null);
      setMessage(`Saved as version ${saved.version}.`);
      await onSaved();
    } catch (exc) {
      setError(errorText(exc));
    }
  }

  async function showVersion(version: string) {
    setOlder(null);
    if (!version) return;
    try {
      setOlder(bodyOf(await get<Record<string, unknown>>(`${path}?version=${version}`)));
    } catch (exc) {
      setError(errorText(exc));
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
          {NUMBER_SETTINGS.map(([key, label, max]) => (
            <Field
              key={key}
              label={label}
              type="number"
              min={1}
              max={max}
              value={String(editing[key] ?? "")}
              onChange={(v) => {
                setEditing({ ...editing, [key]: v ? Number(v) : null });
              }}
            />
          ))}
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
      <Alert error={error} as="div" />
      <Saved text={message} />
    </div>
  );
}
