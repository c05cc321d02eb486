/* /ops/rollouts: every rollout of an agent version, newest first: its component, candidate and
 * stable versions, status, stage and latest decision. Read again every 5 s while one is live (its
 * timer can promote or roll it back at any look). The component filter travels in the address. */

import { useMemo } from "react";
import { Link, useSearchParams } from "react-router";

import { LabelledSelect } from "../../components/ui/form";
import { FilterForm } from "../../features/ops/components/FilterForm";
import { NotOperator, OpsPage, ReadAgain, Reading, useOpsRead } from "../../features/ops/components/OpsPage";
import { usePollWhile } from "../../features/ops/hooks/use-poll-while";
import { instant } from "../../features/ops/logic";
import type { Rollout } from "../../features/ops/rollout-types";
import { COMPONENTS, decisionText, isLive, lastDecision, POLL_MS, shortHash, stageText, statusText } from "../../features/ops/rollouts";
import { DataTable } from "../../../shared/table";

function componentFrom(params: URLSearchParams): string {
  const asked = params.get("component") ?? "";
  return (COMPONENTS as readonly string[]).includes(asked) ? asked : "";
}

export function OpsRolloutsPage() {
  const [params, setParams] = useSearchParams();
  const component = componentFrom(params);
  const path = useMemo(() => (component ? `/v1/ops/rollouts?component=${component}` : "/v1/ops/rollouts"), [component]);
  const read = useOpsRead<{ rollouts: Rollout[] }>(path);
  const rollouts = read.data?.rollouts ?? null;
  usePollWhile(rollouts !== null && rollouts.some(isLive), read.reload, POLL_MS);

  if (read.forbidden) return <NotOperator />;
  return (
    <OpsPage title="Rollouts">
      <p>
        A rollout exposes a candidate agent version to a growing share of tenants, stage by stage, and promotes it
        only when no guard (error rate, p95 duration, cost per run, completion, citation support) shows harm against
        the stable version; it rolls back as soon as one does. Rollouts are started with{" "}
        <code>POST /v1/ops/rollouts</code>.
      </p>
      <FilterForm
        key={component}
        label="Rollout filters"
        applied={{ component }}
        onApply={(next) => {
          setParams(next.component ? { component: next.component } : {});
        }}
      >
        {({ ids, draft, setDraft }) => (
          <LabelledSelect
            id={`${ids}-component`}
            label="Component"
            value={draft.component}
            onChange={(value) => {
              setDraft({ component: value });
            }}
            options={[["", "every component"], ...COMPONENTS.map((c) => [c, c] as const)]}
          />
        )}
      </FilterForm>
      <Reading what="The rollouts" read={read} />
      <ReadAgain read={read} />
      {rollouts && !rollouts.length ? <p>No rollout{component ? ` of the ${component}` : ""} yet.</p> : null}
      {rollouts?.length ? (
        <DataTable
          label="Rollouts table"
          caption="Rollouts, newest first"
          columns={["Rollout", "Component", "Candidate", "Stable", "Status", "Stage", "Last decision"]}
        >
          {rollouts.map((rollout) => {
            const last = lastDecision(rollout);
            return (
              <tr key={rollout.rollout_id}>
                <th scope="row">
                  <Link to={`/ops/rollouts/${rollout.rollout_id}`} title={`Rollout ${rollout.rollout_id}`}>
                    {rollout.rollout_id.slice(0, 8)}
                  </Link>
                </th>
                <td>{rollout.component}</td>
                <td>
                  <code title={rollout.candidate}>{shortHash(rollout.candidate)}</code>
                </td>
                <td>
                  <code title={rollout.stable}>{shortHash(rollout.stable)}</code>
                </td>
                <td>{statusText(rollout.status)}</td>
                <td>{stageText(rollout)}</td>
                <td className="reason">{last ? `${decisionText(last)} (${instant(last.at)})` : "—"}</td>
              </tr>
            );
          })}
        </DataTable>
      ) : null}
    </OpsPage>
  );
}
