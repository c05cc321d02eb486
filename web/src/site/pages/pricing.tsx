// `/pricing`: generated from billing's plan table (plans.json); no number here is typed by hand.

import type { PageMeta } from "../layout";
import { type Plan, type Plans, bytes, number, planTitle, tierRange, toolLabel, unitLabel, usd } from "../plans";

export const pricingMeta: PageMeta = {
  title: "Pricing",
  description: "Quarry's plans with their monthly credits, limits and prices, overage rates, credit packs, and what a typical research run costs.",
  path: "/pricing",
  section: "pricing",
};

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
        <div className="table-wrap" tabIndex={0}>
          <table>
            <caption className="visually-hidden">Credits per unit of each tool's work</caption>
            <thead>
              <tr>
                <th scope="col">Tool</th>
                <th scope="col">What it does</th>
                <th scope="col">Credits</th>
              </tr>
            </thead>
            <tbody>
              {plans.prices.map((item) => (
                <tr key={item.tool}>
                  <th scope="row">
                    <code>{item.tool}</code>
                  </th>
                  <td>{toolLabel(item.tool)}</td>
                  <td>
                    {number(item.credits)} per {unitLabel(item.unit)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
      <section aria-labelledby="overage-title">
        <h2 id="overage-title">Overage rates</h2>
        <p>
          On plans with overage, usage past your balance is billed at the end of the period, in graduated tiers of the period's
          overage:
        </p>
        <div className="table-wrap" tabIndex={0}>
          <table>
            <caption className="visually-hidden">Overage price per 1,000 tokens by tier</caption>
            <thead>
              <tr>
                <th scope="col">Overage in the period</th>
                <th scope="col">Price per 1,000 tokens</th>
              </tr>
            </thead>
            <tbody>
              {plans.overage_tiers.map((tier, i) => (
                <tr key={tier.up_to_tokens ?? "rest"}>
                  <th scope="row">{tierRange(plans.overage_tiers, i)}</th>
                  <td>${tier.usd_per_1k_tokens}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
      <section aria-labelledby="packs-title">
        <h2 id="packs-title">Credit packs</h2>
        <p>Credits bought once. Unlike a plan's monthly credits, they do not expire at the end of the period.</p>
        <div className="table-wrap" tabIndex={0}>
          <table>
            <caption className="visually-hidden">Credit packs and their prices</caption>
            <thead>
              <tr>
                <th scope="col">Credits</th>
                <th scope="col">Price</th>
              </tr>
            </thead>
            <tbody>
              {plans.credit_packs.map((pack) => (
                <tr key={pack.name}>
                  <th scope="row">{number(pack.credits)} credits</th>
                  <td>{usd(pack.price_cents)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </section>
    </div>
  );
}
