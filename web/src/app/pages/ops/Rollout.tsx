/* /ops/rollouts/:rolloutId: one rollout: its stage and split, the spec it runs on, each guard's
 * metric per version over time (a chart per guard, from the decisions' evidence and the latest
 * look), the latest look in numbers, and every decision with its reasons. Platform admins get
 * pause, resume and abort; read again every 5 s while the rollout is live. */

import { useCallback, useMemo, useState } from "react";
import { useParams } from "react-router";

import { Facts } from "../../components/ui/form";
import { GuardChart } from "../../features/ops/components/GuardChart";
import { NotOperator, OpsPage, ReadAgain, Reading, useOpsRead } from "../../features/ops/components/OpsPage";
import { usePollWhile } from "../../features/ops/hooks/use-poll-while";
import { boundedText, duration, instant, opsAccess } from "../../features/ops/logic";
import type { Rollout, ShadowSummary } from "../../features/ops/rollout-types";
import { GUARDS, guardSeries, isLive, looks, POLL_MS, splitText, stageText, statusText } from "../../features/ops/rollouts";
import { useSession } from "../../session";
import { DecisionList, LookTable } from "./RolloutDecisions";
import { RolloutButtons } from "./RolloutActions";

const VALID_ID = /^[A-Za-z0-9_-]{1,100}$/;

export function OpsRolloutPage() {
  const { rolloutId = "" } = useParams();
  const { me } = useSession();
  const valid = VALID_ID.test(rolloutId);
  const read = useOpsRead<Rollout>(valid ? `/v1/ops/rollouts/${rolloutId}` : null);
  const rollout = read.data;
  const [said, setSaid] = useState("");
  usePollWhile(rollout !== null && isLive(rollout), read.reload, POLL_MS);
  const done = useCallback(
    async (text: string) => {
      setSaid(text);
      await read.reload();
    },
    [read],
  );

  if (read.forbidden) return <NotOperator />;
  return (
    <OpsPage title={`Rollout ${rolloutId.slice(0, 8)}`} back={{ to: "/ops/rollouts", label: "All rollouts" }}>
      {valid ? <Reading what="The rollout" read={read} /> : <p role="alert">A rollout is named by its id: letters, digits, - and _.</p>}
      <ReadAgain read={read} />
      {rollout ? (
        <>
          {opsAccess(me).rollouts ? <RolloutButtons rollout={rollout} onDone={done} /> : null}
          <p role="status" aria-live="polite">
            {said}
          </p>
          <RolloutView rollout={rollout} />
        </>
      ) : null}
    </OpsPage>
  );
}

function RolloutView({ rollout }: { rollout: Rollout }) {
  const seen = useMemo(() => looks(rollout), [rollout]);
  const spec = boundedText(JSON.stringify(rollout.spec, null, 2), 20_000).text;
  return (
    <>
      <Facts
        facts={[
          ["Status", statusText(rollout.status)],
          ["Component", rollout.component],
          ["Stage", stageText(rollout)],
          ["Split", splitText(rollout.status === "shadowing" ? 0 : rollout.percent)],
          ["Stages", rollout.spec.stages.map((s) => `${String(s)}%`).join(" → ")],
          ["Candidate", <code key="c">{rollout.candidate}</code>],
          ["Stable", <code key="s">{rollout.stable}</code>],
          ["Rollout id", <code key="id">{rollout.rollout_id}</code>],
          ["Started", instant(rollout.started_at)],
          ["Stage started", instant(rollout.stage_started_at)],
          ["Latest look", rollout.last_look_at ? instant(rollout.last_look_at) : "none yet"],
          ["Looks every", duration(rollout.spec.look_every_s)],
        ]}
      />
      {rollout.shadow ? <ShadowFacts shadow={rollout.shadow} /> : null}
      <h2>Guard metrics per version</h2>
      <p className="hint">
        Each version&apos;s estimate at every look, with its always-valid interval as a whisker: a rollout promotes
        only when every guard shows no harm beyond its limit, and rolls back once one shows harm for certain.
      </p>
      <div className="guard-charts">
        {GUARDS.map((guard) => (
          <GuardChart key={guard} guard={guard} series={guardSeries(seen, guard)} />
        ))}
      </div>
      <h2>Latest look</h2>
      {rollout.last_look ? <LookTable evidence={rollout.last_look} /> : <p>No look yet.</p>}
      <h2>Decisions</h2>
      <DecisionList decisions={rollout.decisions} />
      <h2>Spec</h2>
      <div className="payload" role="region" aria-label="Spec" tabIndex={0}>
        <pre>{spec}</pre>
      </div>
    </>
  );
}

function share(value: number | null): string {
  return value === null ? "not measured" : `${(value * 100).toFixed(1)}%`;
}

function ShadowFacts({ shadow }: { shadow: ShadowSummary }) {
  return (
    <>
      <h2>Shadow runs</h2>
      <p className="hint">
        The candidate ran beside real tasks on the same input; its output was compared, never shown, and billed to the
        platform.
      </p>
      <Facts
        facts={[
          ["Compared tasks", String(shadow.observations)],
          ["Failures, candidate / stable", `${String(shadow.candidate_failures)} / ${String(shadow.stable_failures)}`],
          ["Mean similarity of outputs", share(shadow.mean_similarity)],
          ["Citation support, candidate", share(shadow.candidate_citation_support)],
          ["Citation support, stable", share(shadow.stable_citation_support)],
        ]}
      />
    </>
  );
}
