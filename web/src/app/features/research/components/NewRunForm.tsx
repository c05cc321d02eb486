import { useEffect, useId, useState, type SyntheticEvent } from "react";
import { Link, useNavigate } from "react-router";

import { api, get, type BillingSummary, type Dataset, type RunAccepted, type RunCreateBody, type Template } from "../../../api";
import { Alert, Check, LabelledInput, LabelledSelect } from "../../../components/ui/form";
import { counted } from "../../../format";
import { useAction } from "../../../hooks/use-action";
import { planNamed, planTable, restrictions, type Restriction } from "../../../plans";
import { planName, useSession } from "../../../session";

function reasonFor(list: Restriction[], field: Restriction["field"]): string | null {
  const found = list.filter((r) => r.field === field).map((r) => r.reason);
  return found.length ? found.join(" ") : null;
}

const LENGTHS = [
  ["brief", "Brief"],
  ["standard", "Standard"],
  ["detailed", "Detailed"],
] as const;
const APPROVALS = [
  ["default", "Workspace default"],
  ["required", "Approve before publishing"],
  ["none", "Publish without approval"],
] as const;

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

  /** Why the form cannot be sent as it stands, or null. */
  function refusal(text: string): string | null {
    if (text.length < 3) return "Question: write at least a few words.";
    if (depth > maxDepth) return depthReason ?? `Depth: at most ${maxDepth}.`;
    if (maxSources > sourcesCap || maxSources < 1) return sourcesReason ?? `Maximum sources: between 1 and ${sourcesCap}.`;
    return null;
  }

  async function submit(event: SyntheticEvent) {
    event.preventDefault();
    const text = question.trim();
    const why = refusal(text);
    setError(why ?? "");
    if (why) return;
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
            <LabelledSelect
              id={`${ids}-depth`}
              label="Depth"
              hint={depthReason}
              value={depth}
              onChange={(v) => {
                setDepth(Number(v));
              }}
            >
              {[1, 2, 3].map((d) => (
                <option key={d} value={d} disabled={d > maxDepth}>
                  {d}
                  {d > maxDepth ? " (not on your plan)" : ""}
                </option>
              ))}
            </LabelledSelect>
          </div>
          <div>
            <LabelledInput
              id={`${ids}-max`}
              label="Maximum sources"
              hint={sourcesReason}
              type="number"
              min={1}
              max={sourcesCap}
              value={maxSources}
              onChange={(v) => {
                setMaxSources(Number(v));
              }}
            />
          </div>
          {(
            [
              ["length", "Length", length, setLength, LENGTHS],
              ["approval", "Approval", approval, setApproval, APPROVALS],
              ["template", "Template", templateId, setTemplateId, [["", "None"], ...templates.map((t) => [t.template_id, t.name] as const)]],
            ] as const
          ).map(([key, label, value, onChange, options]) => (
            <div key={key}>
              <LabelledSelect id={`${ids}-${key}`} label={label} value={value} onChange={onChange} options={options} />
            </div>
          ))}
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
            <Check
              key={value}
              id={`${ids}-src-${value}`}
              label={label}
              checked={kinds.includes(value)}
              disabled={reason !== null}
              describedBy={reason ? `${ids}-src-${value}-why` : undefined}
              onChange={(on) => {
                setKinds(toggle(kinds, value, on));
              }}
            >
              {reason ? (
                <span id={`${ids}-src-${value}-why`} className="hint">
                  {" "}
                  — {reason}
                </span>
              ) : null}
            </Check>
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
              <Check
                key={d.dataset_id}
                id={`${ids}-ds-${d.dataset_id}`}
                label={
                  <>
                    {d.name} <span className="muted">({counted(d.documents, "document")})</span>
                  </>
                }
                disabled={datasetReason !== null}
                checked={chosenDatasets.includes(d.name)}
                onChange={(on) => {
                  setChosenDatasets(toggle(chosenDatasets, d.name, on));
                }}
              />
            ))
          )}
          {datasetReason && datasets.length ? <p className="hint">{datasetReason}</p> : null}
        </fieldset>
        <Check id={`${ids}-review`} label="Review the plan" checked={reviewPlan} onChange={setReviewPlan}>
          <span className="hint"> — pause after planning to edit the sub-questions</span>
        </Check>
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
