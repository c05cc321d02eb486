/* A rollout's decisions, oldest first as recorded: what each was, on which stage, why, and the
 * numbers behind it (runs and tenants per version, each guard's verdict); an operator's note is
 * their text, shown as text. Also the guards as one look saw them, per version. */

import { instant } from "../../features/ops/logic";
import type { Evidence, RolloutDecision } from "../../features/ops/rollout-types";
import { countsText, decisionText, GUARD_TEXT, intervalText, verdictsText } from "../../features/ops/rollouts";
import { DataTable } from "../../../shared/table";

export function DecisionList({ decisions }: { decisions: readonly RolloutDecision[] }) {
  if (!decisions.length) return <p>No decision yet.</p>;
  return (
    <DataTable label="Decisions table" caption="Decisions, oldest first" columns={["When", "Decision", "Stage", "Numbers", "Note"]}>
      {decisions.map((decision, at) => (
        <tr key={`${decision.at}-${String(at)}`}>
          <td>{instant(decision.at)}</td>
          <th scope="row" className="reason">
            {decisionText(decision)}
          </th>
          <td>{decision.percent === null ? "—" : `${String(decision.percent)}%`}</td>
          <td className="reason">{decision.evidence ? numbersText(decision.evidence) : "—"}</td>
          <td className="reason">{decision.note || "—"}</td>
        </tr>
      ))}
    </DataTable>
  );
}

function numbersText(evidence: Evidence): string {
  const verdicts = evidence.guards.length ? `; ${verdictsText(evidence.guards)}` : "";
  const ratio = evidence.sample_ratio?.mismatch ? "; sample-ratio mismatch" : "";
  return `${countsText(evidence)}${verdicts}${ratio}`;
}

/** Each guard at one look: both versions' estimates with their always-valid intervals, and the verdict. */
export function LookTable({ evidence }: { evidence: Evidence }) {
  return (
    <>
      <p>{countsText(evidence)} in the stage.</p>
      <DataTable label="Latest look table" caption="Each guard at the latest look" columns={["Guard", "Stable", "Candidate", "Verdict"]}>
        {evidence.guards.map((reading) => (
          <tr key={reading.guard}>
            <th scope="row">{GUARD_TEXT[reading.guard]}</th>
            <td>{intervalText(reading.stable)}</td>
            <td>{intervalText(reading.candidate)}</td>
            <td className={reading.verdict === "harm" ? "bad" : undefined}>{reading.verdict.replace("_", " ")}</td>
          </tr>
        ))}
      </DataTable>
    </>
  );
}
