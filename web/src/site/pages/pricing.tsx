// `/pricing`: generated from billing's plan table (plans.json); no number here is typed by hand.

import type { ReactNode } from "react";

import { TableHead } from "../../shared/table";
import type { PageMeta } from "../layout";
import { type Plan, type Plans, bytes, number, planTitle, tierRange, toolLabel, unitLabel, usd } from "../plans";

export const pricingMeta: PageMeta = {
  title: "Pricing",
  description: "Quarry's plans with their monthly credits, limits and prices, overage rates, credit packs, and what a typical research run costs.",
  path: "/pricing",
  section: "pricing",
};

/** A table that scrolls on its own: a caption for assistive technology, the column names, and
 * rows whose first cell heads the row. */
function DataTable({
  caption,
  columns,
  rows,
}: {
  caption: string;
  columns: readonly string[];
  rows: readonly { key: string; head: ReactNode; cells: readonly ReactNode[] }[];
}) {
  return (
    <div className="table-wrap" tabIndex={0}>
      <table>
        <TableHead caption={caption} columns={columns} />
        <tbody>
          {rows.map((row) => (
            <tr key={row.key}>
              <th scope="row">{row.head}</th>
              {row.cells.map((cell, n) => (
                <td key={n}>{cell}</td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function price(plan: Plan) {
  return (
    <>
      {usd(plan.price_cents)} <span className="per">a month</span>
    </>
  );
}

function PlanCard({ plan }: { plan: Plan }) {
  const id = `plan-${plan.name}`;
  return (
    <li className="card plan" aria-labelledby={id}>
      <h3 id={id}>{planTitle(plan.name)}</h3>
      <p className="price">{price(plan)}</p>
      <dl className="facts">
        <dt>Credits every month</dt>
        <dd>{number(plan.monthly_credits)}</dd>
        <dt>Research depth</dt>
        <dd>up to {plan.max_depth}</dd>
        <dt>Sources a run reads</dt>
        <dd>up to {number(plan.max_sources)}</dd>
        <dt>Runs at once</dt>
        <dd>{number(plan.concurrency)}</dd>
        <dt>Web research</dt>
        <dd>{plan.web ? "included" : "not included"}</dd>
        <dt>Datasets</dt>
        <dd>{number(plan.max_datasets)}</dd>
        <dt>Documents stored</dt>
        <dd>
          {number(plan.max_documents)}, up to {bytes(plan.max_document_bytes)}
        </dd>
        <dt>Monitors</dt>
        <dd>{number(plan.max_monitors)}</dd>
        <dt>Overage</dt>
        <dd>
          {plan.overage ? `up to ${number(plan.overage_cap)} credits` : "none"}
        </dd>
      </dl>
      <p className="tools-title">Tools</p>
      <ul className="tools">
        {plan.tools.map((tool) => (
          <li key={tool}>
            <code>{tool}</code>: {toolLabel(tool)}
          </li>
        ))}
      </ul>
    </li>
  );
}

export function Pricing({ plans }: { plans: Plans }) {
  const run = plans.typical_run;
  const starter =
    plans.default_plan === undefined ? plans.plans.find((plan) => plan.price_cents === 0) : plans.plans.find((plan) => plan.name === plans.default_plan);
  return (
    <div className="wrap page">
      <h1>Pricing</h1>
      <p className="lede">
        Every run is metered in credits: {plans.credit_unit}. The plans, limits and prices below come from the same table billing charges
        from.{starter === undefined ? null : ` Every new workspace starts on the ${planTitle(starter.name)} plan.`} Change plan or buy
        credits from Billing in the workspace.
      </p>
      <section aria-labelledby="plans-title">
        <h2 id="plans-title">Plans</h2>
        <ul className="cards plans">
          {plans.plans.map((plan) => (
            <PlanCard key={plan.name} plan={plan} />
          ))}
        </ul>
        <p>
          Overage is how far past its balance a plan's usage may go, billed at the <a href="#overage-title">overage rates</a>. On a plan
          without it, a run or follow-up your balance cannot cover is refused before it starts.
        </p>
        <p className="actions">
          <a className="button button-large" href="/signup">
            Sign up
          </a>
        </p>
      </section>
      <section aria-labelledby="typical-title">
        <h2 id="typical-title">What a typical run costs</h2>
        <p>
          A run of depth {run.depth} that reads up to {number(run.max_sources)} sources: <strong>{number(run.reserved_credits)} credits</strong>,{" "}
          {run.note ?? "reserved at start (an upper bound), settled against usage; the rest is refunded"}. A follow-up question on a finished run: <strong>{number(plans.follow_up_reserved_credits)} credits</strong>, held
          and settled the same way.
        </p>
        {run.items === undefined || run.items.length === 0 ? null : (
          <ul>
            {run.items.map((item) => (
              <li key={item.what}>
                {item.what}: {number(item.credits)} credits
              </li>
            ))}
          </ul>
        )}
        <p>
          When {plans.budget.throttle_from_pct}% of the period's budget is used, runs are throttled to half the plan's concurrency and
          warned; above {plans.budget.block_above_pct}%, only the tools a run cannot finish without are allowed.
        </p>
      </section>
      <section aria-labelledby="prices-title">
        <h2 id="prices-title">What each step costs</h2>
        <DataTable
          caption="Credits per unit of each tool's work"
          columns={["Tool", "What it does", "Credits"]}
          rows={plans.prices.map((item) => ({
            key: item.tool,
            head: <code>{item.tool}</code>,
            cells: [toolLabel(item.tool), `${number(item.credits)} per ${unitLabel(item.unit)}`],
          }))}
        />
      </section>
      <section aria-labelledby="overage-title">
        <h2 id="overage-title">Overage rates</h2>
        <p>
          On plans with overage, usage past your balance is billed at the end of the period, in graduated tiers of the period's
          overage:
        </p>
        <DataTable
          caption="Overage price per 1,000 tokens by tier"
          columns={["Overage in the period", "Price per 1,000 tokens"]}
          rows={plans.overage_tiers.map((tier, n) => ({
            key: String(tier.up_to_tokens ?? "rest"),
            head: tierRange(plans.overage_tiers, n),
            cells: [`$${tier.usd_per_1k_tokens}`],
          }))}
        />
      </section>
      <section aria-labelledby="packs-title">
        <h2 id="packs-title">Credit packs</h2>
        <p>Credits bought once. Unlike a plan's monthly credits, they do not expire at the end of the period.</p>
        <DataTable
          caption="Credit packs and their prices"
          columns={["Credits", "Price"]}
          rows={plans.credit_packs.map((pack) => ({ key: pack.name, head: `${number(pack.credits)} credits`, cells: [usd(pack.price_cents)] }))}
        />
      </section>
    </div>
  );
}
