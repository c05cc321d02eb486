import { useId } from "react";

import { post, type RunView } from "../../../api";
import { when } from "../../../format";
import { Decision, useDecision } from "./Decision";

/** A run waiting for a human: approve or reject it, with a comment. */
export function ApprovalPanel({ base, view, onDone }: { base: string; view: RunView; onDone: () => Promise<void> }) {
  const ids = useId();
  const decision = useDecision();
  const { comment, run } = decision;
  const approval = view.approval;

  const decide = (decision: "approve" | "reject") =>
    run(async () => {
      await post(`${base}/approval`, { decision, comment: comment.trim() });
      await onDone();
    });

  return (
    <section aria-labelledby={`${ids}-h`} className="card attention">
      <h2 id={`${ids}-h`}>Approval needed</h2>
      <p>{approval?.reason ?? "The run waits for a human's decision."}</p>
      {approval?.subject ? <p className="muted">About: {approval.subject}</p> : null}
      <p>
        Decide before <strong>{when(approval?.deadline)}</strong>; after that the run expires.
      </p>
      <Decision
        id={`${ids}-c`}
        decision={decision}
        go={{ label: "Approve", onClick: () => void decide("approve") }}
        stop={{ label: "Reject", onClick: () => void decide("reject") }}
      />
    </section>
  );
}
