import { useEffect, useId, useState, type SyntheticEvent } from "react";
import { Link, useNavigate } from "react-router";

import { api, get, type BillingSummary, type Dataset, type RunAccepted, type RunCreateBody, type Template } from "../../../api";
import { Alert } from "../../../components/ui/form";
import { useAction } from "../../../hooks/use-action";
import { planNamed, planTable, restrictions, type Restriction } from "../../../plans";
import { planName, useSession } from "../../../session";

function reasonFor(list: Restriction[], field: Restriction["field"]): string | null {
  const found = list.filter((r) => r.field === field).map((r) => r.reason);
  return found.length ? found.join(" ") : null;
}

/** A new run: the question, its depth and sources, a template, approval and plan review. */
export function NewRunForm({ summary }: { summary: BillingSummary | null }) {
  const navigate = useNavigate();
  const { me } = useSession();
  const ids = useId();
  const [question, setQuestion] = useState("");
  const [depth, setDepth] = useState(2);
  const [maxSources, setMaxSources] = useState(8);
  const [kinds, setKinds] = useState<string[]>([]);
  const [datasets, setDatasets] = useState<Dataset[]>([]);
  const [chosenDatasets, setChosenDatasets] = useState<string[]>([]);
  const [templates, setTemplates] = useState<Template[]>([]);
  const [templateId, setTemplateId] = useState("");
  const [length, setLength] = useState("standard");
  const [approval, setApproval] = useState("default");
  const [reviewPlan, setReviewPlan] = useState(false);
  const { busy, error, setError, run } = useAction();

  useEffect(() => {
    get<{ datasets: Dataset[] }>("/v1/datasets").then(
      (r) => {
        setDatasets(r.datasets);
      },
      () => {
        setDatasets([]);
      },
    );
    get<{ templates: Template[] }>("/v1/templates").then(
      (r) => {
        setTemplates(r.templates);
      },
      () => {
        setTemplates([]);
      },
    );
  }, []);

  // Billing names the plan; /v1/auth/me does too when billing cannot answer.
  const plan = planNamed(summary?.plan.name ?? planName(me));
  const limits = restrictions(plan, summary?.plan.tools ?? null, me?.permissions ?? null, summary?.tier ?? null);
  const maxDepth = plan?.max_depth ?? 3;
  const sourcesCap = plan?.max_sources ?? 50;
  const webReason = reasonFor(limits, "web");
  const datasetReason = reasonFor(limits, "datasets");
  const startReason = reasonFor(limits, "start");
  const depthReason = reasonFor(limits, "depth");
  const sourcesReason = reasonFor(limits, "sources");

  function toggle(list: string[], value: string, on: boolean): string[] {
    return on ? [...list, value] : list.filter((v) => v !== value);
  }

  async function submit(event: SyntheticEvent) {
    event.preventDefault();
    setError("");
    const text = question.trim();
    if (text.length < 3) {
      setError("Question: write at least a few words.");
      return;
    }
    if (depth > maxDepth) {
      setError(depthReason ?? `Depth: at most ${maxDepth}.`);
      return;
    }
    if (maxSources > sourcesCap || maxSources < 1) {
      setError(sourcesReason ?? `Maximum sources: between 1 and ${sourcesCap}.`);
      return;
    }
    const body: RunCreateBody = { question: text, depth, max_sources: maxSources, length };
    if (kinds.length) body.sources = kinds;
    if (chosenDatasets.length) body.datasets = chosenDatasets;
    if (templateId) body.template_id = templateId;
    if (approval !== "default") body.approval_required = approval === "required";
    if (reviewPlan) body.review_plan = true;
    await run(async () => {
      const accepted = await api<RunAccepted>("/v1/runs", { method: "POST", body });
      void navigate(`/research/runs/${accepted.run_id}`);
    });
  }

  return (
    <section aria-labelledby={`${ids}-heading`} className="card">
      <h2 id={`${ids}-heading`}>New research</h2>
      <form onSubmit={(e) => void submit(e)} className="new-run">
        <label htmlFor={`${ids}-q`}>Question</label>
        <textarea
          id={`${ids}-q`}
          required
          minLength={3}
          maxLength={2000}
          rows={3}
          value={question}
          onChange={(e) => {
            setQuestion(e.target.value);
          }}
        />
        <div className="row">
          <div>
            <label htmlFor={`${ids}-depth`}>Depth</label>
            <select
              id={`${ids}-depth`}
              value={depth}
              aria-describedby={depthReason ? `${ids}-depth-why` : undefined}
              onChange={(e) => {
                setDepth(Number(e.target.value));
              }}
            >
              {[1, 2, 3].map((d) => (
                <option key={d} value={d} disabled={d > maxDepth}>
                  {d}
                  {d > maxDepth ? " (not on your plan)" : ""}
                </option>
              ))}
            </select>
            {depthReason ? (
              <p id={`${ids}-depth-why`} className="hint">
                {depthReason}
              </p>
            ) : null}
          </div>
          <div>
            <label htmlFor={`${ids}-max`}>Maximum sources</label>
            <input
              id={`${ids}-max`}
              type="number"
              min={1}
              max={sourcesCap}
              value={maxSources}
              aria-describedby={sourcesReason ? `${ids}-max-why` : undefined}
              onChange={(e) => {
                setMaxSources(Number(e.target.value));
              }}
            />
            {sourcesReason ? (
              <p id={`${ids}-max-why`} className="hint">
                {sourcesReason}
              </p>
            ) : null}
          </div>
          <div>
            <label htmlFor={`${ids}-length`}>Length</label>
            <select
              id={`${ids}-length`}
              value={length}
              onChange={(e) => {
                setLength(e.target.value);
              }}
            >
              <option value="brief">Brief</option>
              <option value="standard">Standard</option>
              <option value="detailed">Detailed</option>
            </select>
          </div>
          <div>
            <label htmlFor={`${ids}-approval`}>Approval</label>
            <select
              id={`${ids}-approval`}
              value={approval}
              onChange={(e) => {
                setApproval(e.target.value);
              }}
            >
              <option value="default">Workspace default</option>
              <option value="required">Approve before publishing</option>
              <option value="none">Publish without approval</option>
            </select>
          </div>
          <div>
            <label htmlFor={`${ids}-template`}>Template</label>
            <select
              id={`${ids}-template`}
              value={templateId}
              onChange={(e) => {
                setTemplateId(e.target.value);
              }}
            >
              <option value="">None</option>
              {templates.map((t) => (
                <option key={t.template_id} value={t.template_id}>
                  {t.name}
                </option>
              ))}
            </select>
          </div>
        </div>
        <fieldset>
          <legend>Search in</legend>
          <p className="hint">Leave all unticked for the workspace default.</p>
          {(
            [
              ["corpus", "Sample corpus", null],
              ["datasets", "Your datasets", datasetReason],
              ["web", "The web", webReason],
            ] as const
          ).map(([value, label, reason]) => (
            <div key={value} className="check">
              <input
                id={`${ids}-src-${value}`}
                type="checkbox"
                checked={kinds.includes(value)}
                disabled={reason !== null}
                aria-describedby={reason ? `${ids}-src-${value}-why` : undefined}
                onChange={(e) => {
                  setKinds(toggle(kinds, value, e.target.checked));
                }}
              />
              <label htmlFor={`${ids}-src-${value}`}>{label}</label>
              {reason ? (
                <span id={`${ids}-src-${value}-why`} className="hint">
                  {" "}
                  — {reason}
                </span>
              ) : null}
            </div>
          ))}
        </fieldset>
        <fieldset>
          <legend>Datasets</legend>
          {datasets.length === 0 ? (
            <p className="hint">
              No datasets yet. <Link to="/datasets">Create one</Link> to research your own documents.
            </p>
          ) : (
            datasets.map((d) => (
              <div key={d.dataset_id} className="check">
                <input
                  id={`${ids}-ds-${d.dataset_id}`}
                  type="checkbox"
                  disabled={datasetReason !== null}
                  checked={chosenDatasets.includes(d.name)}
                  onChange={(e) => {
                    setChosenDatasets(toggle(chosenDatasets, d.name, e.target.checked));
                  }}
                />
                <label htmlFor={`${ids}-ds-${d.dataset_id}`}>
                  {d.name} <span className="muted">({d.documents} documents)</span>
                </label>
              </div>
            ))
          )}
          {datasetReason && datasets.length ? <p className="hint">{datasetReason}</p> : null}
        </fieldset>
        <div className="check">
          <input
            id={`${ids}-review`}
            type="checkbox"
            checked={reviewPlan}
            onChange={(e) => {
              setReviewPlan(e.target.checked);
            }}
          />
          <label htmlFor={`${ids}-review`}>Review the plan</label>
          <span className="hint"> — pause after planning to edit the sub-questions</span>
        </div>
        {startReason ? (
          <p className="warning" id={`${ids}-start-why`}>
            {startReason}
          </p>
        ) : null}
        <Alert error={error} as="div" />
        <button type="submit" disabled={busy} aria-describedby={startReason ? `${ids}-start-why` : undefined}>
          Start research
        </button>
        {planTable?.typical_run ? (
          <p className="hint">
            A typical run reserves about {planTable.typical_run.reserved_credits} credits when it starts and is charged
            what it used; the rest is refunded.
          </p>
        ) : null}
      </form>
    </section>
  );
}
