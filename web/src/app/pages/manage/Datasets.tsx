/* Datasets: create one, add documents (a file with its upload progress, or typed text), watch
 * each document's indexing, delete with a confirmation. */

import { useEffect, useId, useState, type SyntheticEvent } from "react";

import { api, get, upload, type Dataset, type DatasetDocument, type TextDocumentBody } from "../../api";
import { counted, errorText } from "../../format";
import { ConfirmButton, CreateForm, Field, ListSection, Page, useList } from "./shared";
import { Alert, Saved, SubmitRow } from "../../components/ui/form";
import { limits, megabytes } from "../../config/limits";
import { useAction } from "../../hooks/use-action";

const DOCUMENT_SETTLED = new Set(["indexed", "rejected"]);
// The gateway's limits on a text document (DocumentCreate in routes/documents.py).
const MAX_TITLE = 300;
const MAX_TEXT = 600_000;

export function DatasetsPage() {
  const list = useList<Dataset>("/v1/datasets", "datasets");
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");

  async function create() {
    await api("/v1/datasets", { method: "POST", body: { name: name.trim(), description: description.trim() } });
    setName("");
    setDescription("");
  }

  return (
    <Page title="Datasets">
      <CreateForm title="New dataset" submitLabel="Create dataset" list={list} onSubmit={create}>
        <Field
          label="Name"
          value={name}
          onChange={setName}
          required
          maxLength={63}
          pattern="[a-z0-9][a-z0-9_.\-]{0,62}"
          hint="Lower-case letters, digits, '.', '_' and '-'."
        />
        <Field label="Description" value={description} onChange={setDescription} maxLength={2000} />
      </CreateForm>
      <ListSection heading="Your datasets" list={list} empty="No datasets yet." actions>
        {list.items?.map((d) => (
          <li key={d.dataset_id} className="card">
            <strong>{d.name}</strong> — {counted(d.documents, "document")}
            {Object.keys(d.by_status).length
              ? ` (${Object.entries(d.by_status)
                  .map(([s, n]) => `${n} ${s}`)
                  .join(", ")})`
              : ""}{" "}
            <ConfirmButton
              text="Delete"
              label={`Delete dataset ${d.name}`}
              question={`Delete ${d.name} and its ${counted(d.documents, "document")}?`}
              confirmLabel="Delete dataset"
              onConfirm={() => list.act(() => api(`/v1/datasets/${encodeURIComponent(d.name)}`, { method: "DELETE" }))}
            />
            {d.description ? <div className="muted">{d.description}</div> : null}
            <DatasetDocuments name={d.name} onChange={list.reload} />
          </li>
        ))}
      </ListSection>
    </Page>
  );
}

/** A dataset's documents as they are indexed, a file upload with its progress, and typed text. */
function DatasetDocuments({ name, onChange }: { name: string; onChange: () => Promise<void> }) {
  const ids = useId();
  const path = `/v1/datasets/${encodeURIComponent(name)}`;
  const [documents, setDocuments] = useState<DatasetDocument[]>([]);
  const [progress, setProgress] = useState<number | null>(null);
  const [message, setMessage] = useState("");
  const [failure, setFailure] = useState("");
  const [version, setVersion] = useState(0);
  const pending = documents.some((d) => !DOCUMENT_SETTLED.has(d.status));

  useEffect(() => {
    const read = () =>
      get<{ documents: DatasetDocument[] }>(`${path}/documents`).then(
        (r) => {
          setDocuments(r.documents);
        },
        (exc: unknown) => {
          setFailure(errorText(exc));
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

  async function added(what: string) {
    setMessage(`${what} added; indexing follows.`);
    setVersion((v) => v + 1);
    await onChange();
  }

  async function send(file: File) {
    setMessage("");
    setFailure("");
    const cap = limits.maxUploadBytes;
    if (cap !== null && file.size > cap) {
      setFailure(`${file.name} is larger than a dataset accepts (${megabytes(cap)}).`);
      return;
    }
    const form = new FormData();
    form.append("file", file);
    setProgress(0);
    try {
      await upload(`${path}/files`, form, setProgress);
      await added(file.name);
    } catch (exc) {
      setFailure(errorText(exc));
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
      <TextDocumentForm
        dataset={name}
        onSubmit={async (body) => {
          setMessage("");
          setFailure("");
          await api(`${path}/documents`, { method: "POST", body });
          await added(body.title);
        }}
      />
      <Alert error={failure} as="div" />
      <Saved text={message} />
      {documents.length ? (
        <ul aria-label={`Documents in ${name}`}>
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

/** Paste or type a document: its own errors (a 4xx's reason) stay beside it. */
function TextDocumentForm({ dataset, onSubmit }: { dataset: string; onSubmit: (body: TextDocumentBody) => Promise<void> }) {
  const ids = useId();
  const [open, setOpen] = useState(false);
  const [title, setTitle] = useState("");
  const [contentType, setContentType] = useState<TextDocumentBody["content_type"]>("text/plain");
  const [content, setContent] = useState("");
  const { busy, error, setError, run } = useAction();

  if (!open) {
    return (
      <button
        type="button"
        className="link-button"
        aria-label={`Add a text document to ${dataset}`}
        onClick={() => {
          setOpen(true);
        }}
      >
        Add a text document
      </button>
    );
  }

  async function submit(event: SyntheticEvent) {
    event.preventDefault();
    setError("");
    if (!title.trim() || !content.trim()) {
      setError("A document needs a title and some text.");
      return;
    }
    await run(async () => {
      await onSubmit({ title: title.trim(), content_type: contentType, content });
      setTitle("");
      setContent("");
      setOpen(false);
    });
  }

  return (
    <form onSubmit={(e) => void submit(e)} aria-label={`Text document for ${dataset}`}>
      <Field label="Document title" value={title} onChange={setTitle} required maxLength={MAX_TITLE} />
      <label htmlFor={`${ids}-type`}>Format</label>
      <select
        id={`${ids}-type`}
        value={contentType}
        onChange={(e) => {
          const v = e.target.value;
          setContentType(v === "text/markdown" || v === "text/html" ? v : "text/plain");
        }}
      >
        <option value="text/plain">Plain text</option>
        <option value="text/markdown">Markdown</option>
        <option value="text/html">HTML</option>
      </select>
      <label htmlFor={`${ids}-text`}>Text</label>
      <textarea
        id={`${ids}-text`}
        rows={8}
        required
        maxLength={MAX_TEXT}
        aria-describedby={`${ids}-text-hint`}
        value={content}
        onChange={(e) => {
          setContent(e.target.value);
        }}
      />
      <p id={`${ids}-text-hint`} className="hint">
        Up to {MAX_TEXT.toLocaleString()} characters.
      </p>
      <SubmitRow error={error} busy={busy} label="Add document" />
      <button
        type="button"
        className="link-button"
        onClick={() => {
          setOpen(false);
          setError("");
        }}
      >
        Close
      </button>
    </form>
  );
}
