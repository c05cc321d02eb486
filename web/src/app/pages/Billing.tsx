import { useCallback, useEffect, useState } from "react";
import { Link } from "react-router";

import { api, get, type BillingSummary, type CheckoutReply, type LedgerEntry, type LedgerPage } from "../api";
import { Saved } from "../components/ui/form";
import { useAction } from "../hooks/use-action";
import { credits, errorText, when } from "../format";
import { budgetWarning, formatCents, planNamed, planTable } from "../plans";
import { DataTable } from "../../shared/table";

const LEDGER_PAGE = 20;

export function BillingPage() {
  const [summary, setSummary] = useState<BillingSummary | null>(null);
  const [error, setError] = useState("");

  const load = useCallback(
    () =>
      get<BillingSummary>("/v1/billing/summary?recent=0").then(
        (found) => {
          setSummary(found);
          setError("");
        },
        (exc: unknown) => {
          setError(errorText(exc));
        },
      ),
    [],
  );

  useEffect(() => {
    document.title = "Billing · Quarry";
    void load();
  }, [load]);

  if (summary === null) {
    return (
      <main id="main">
        <h1>Billing</h1>
        {error ? <p role="alert">Billing could not be read: {error}</p> : <p role="status">Loading…</p>}
      </main>
    );
  }

  const warning = budgetWarning(summary.used_pct, planTable?.budget);
  const plan = planNamed(summary.plan.name);
  return (
    <main id="main" className="billing">
      <h1>Billing</h1>
      {warning.level !== "none" ? (
        <p role="alert" className={`budget-warning budget-${warning.level}`}>
          {warning.message}
        </p>
      ) : null}
      <section aria-labelledby="plan-h" className="card">
        <h2 id="plan-h">Plan and credits</h2>
        <dl className="facts">
          <div>
            <dt>Plan</dt>
            <dd>
              {summary.plan.name}
              {plan ? ` (${formatCents(plan.price_cents)}${plan.price_cents ? " a month" : ""})` : ""}
            </dd>
          </div>
          <div>
            <dt>Balance</dt>
            <dd>{credits(summary.balance)}</dd>
          </div>
          <div>
            <dt>Reserved by runs in flight</dt>
            <dd>{credits(summary.reserved)}</dd>
          </div>
          <div>
            <dt>Budget this period ({summary.period})</dt>
            <dd>{credits(summary.budget)}</dd>
          </div>
          <div>
            <dt>Used</dt>
            <dd>{Math.round(summary.used_pct)}%</dd>
          </div>
          <div>
            <dt>Budget tier</dt>
            <dd>{summary.tier}</dd>
          </div>
        </dl>
        <meter
          aria-label="Share of this period's credits used"
          min={0}
          max={100}
          low={planTable?.budget.throttle_from_pct ?? 75}
          high={planTable?.budget.block_above_pct ?? 90}
          optimum={0}
          value={Math.min(100, Math.max(0, summary.used_pct))}
        />
      </section>
      <section aria-labelledby="usage-h" className="card">
        <h2 id="usage-h">Usage this period</h2>
        <BarChart title="By tool" data={summary.used_by_tool} />
        <BarChart title="By run" data={summary.used_by_run} linkRuns />
      </section>
      <NextInvoice summary={summary} />
      <Purchase summary={summary} onApplied={load} />
      <Ledger summary={summary} />
    </main>
  );
}

/** A horizontal bar per key, drawn as inline SVG, with the numbers also as a list for screen readers. */
export function BarChart({ title, data, linkRuns = false }: { title: string; data: Record<string, number>; linkRuns?: boolean }) {
  const rows = Object.entries(data)
    .filter(([, v]) => v > 0)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 12);
  const max = Math.max(1, ...rows.map(([, v]) => v));
  const rowH = 26;
  const labelW = 110;
  const width = 360;
  return (
    <figure className="chart">
      <figcaption>{title}</figcaption>
      {rows.length === 0 ? (
        <p className="muted">Nothing used yet.</p>
      ) : (
        <>
          <svg
            viewBox={`0 0 ${width} ${rows.length * rowH}`}
            role="img"
            aria-label={`${title}: ${rows.map(([k, v]) => `${k} ${v} credits`).join(", ")}`}
            preserveAspectRatio="xMinYMin meet"
          >
            {rows.map(([key, value], i) => {
              const w = ((width - labelW - 50) * value) / max;
              const label = key.length > 14 ? `${key.slice(0, 12)}…` : key;
              return (
                <g key={key} transform={`translate(0 ${i * rowH})`}>
                  <text x={0} y={rowH / 2 + 5} fontSize="14" fill="currentColor">
                    {label}
                  </text>
                  <rect x={labelW} y={4} width={Math.max(2, w)} height={rowH - 8} rx={3} fill="var(--brand)" />
                  <text x={labelW + w + 6} y={rowH / 2 + 5} fontSize="14" fill="currentColor">
                    {value}
                  </text>
                </g>
              );
            })}
          </svg>
          {linkRuns ? (
            <ul className="chart-links">
              {rows.map(([key, value]) => (
                <li key={key}>
                  <Link to={`/research/runs/${key}`}>Run {key.slice(0, 8)}</Link>: {credits(value)}
                </li>
              ))}
            </ul>
          ) : null}
        </>
      )}
    </figure>
  );
}

function NextInvoice({ summary }: { summary: BillingSummary }) {
  const plan = planNamed(summary.plan.name);
  const price = plan?.price_cents ?? null;
  const overageUsd = Number(summary.overage.amount_usd) || 0;
  return (
    <section aria-labelledby="invoice-h" className="card">
      <h2 id="invoice-h">Next invoice</h2>
      <ul>
        <li>
          The {summary.plan.name} plan: {price === null ? "its monthly price" : formatCents(price)}
          {price ? " for the next month" : ""}, with {credits(summary.plan.monthly_credits)}.
        </li>
        {summary.plan.overage ? (
          <li>
            Overage so far: {credits(summary.overage.credits)} beyond the budget ({summary.overage.tokens.toLocaleString()} tokens),
            billed ${overageUsd.toFixed(2)} by the tiered rates per 1,000 tokens.
          </li>
        ) : (
          <li>No overage on this plan: above the budget runs are refused rather than billed.</li>
        )}
        <li>Credit packs you buy are charged once, when you buy them.</li>
      </ul>
      {price !== null ? (
        <p>
          <strong>Estimated total: ${(price / 100 + (summary.plan.overage ? overageUsd : 0)).toFixed(2)}</strong>
        </p>
      ) : null}
    </section>
  );
}

function Purchase({ summary, onApplied }: { summary: BillingSummary; onApplied: () => Promise<void> }) {
  const [message, setMessage] = useState("");
  const { busy, run } = useAction(setMessage);
  const plans = planTable?.plans.map((p) => p.name) ?? ["free", "pro", "enterprise"];
  const packs = planTable?.credit_packs ?? [
    { name: "pack_1k", credits: 1000, price_cents: 0 },
    { name: "pack_10k", credits: 10000, price_cents: 0 },
  ];

  async function checkout(kind: "subscription" | "pack", item: string) {
    setMessage("");
    await run(async () => {
      const back = `${window.location.origin}/billing`;
      const reply = await api<CheckoutReply>("/v1/billing/checkout", {
        method: "POST",
        body: { kind, item, success_url: `${back}?checkout=success`, cancel_url: `${back}?checkout=cancelled` },
      });
      if (reply.completed) {
        setMessage(kind === "pack" ? `Bought ${item}: the credits are in your balance.` : `Now on the ${item} plan.`);
        await onApplied();
      } else if (reply.url && /^https:\/\//.test(reply.url)) {
        window.location.assign(reply.url);
      } else {
        setMessage("Checkout started; it completes after payment.");
      }
    });
  }

  return (
    <section aria-labelledby="buy-h" className="card">
      <h2 id="buy-h">Change plan or buy credits</h2>
      {summary.stripe_mode === "mock" ? <p className="muted">Payments are in test mode: changes apply at once.</p> : null}
      <h3>Plans</h3>
      <ul className="buttons">
        {plans
          .filter((name) => name !== summary.plan.name && name !== "free")
          .map((name) => (
            <li key={name}>
              <button type="button" disabled={busy} onClick={() => void checkout("subscription", name)}>
                Change to {name}
              </button>
            </li>
          ))}
      </ul>
      <h3>Credit packs</h3>
      <ul className="buttons">
        {packs.map((pack) => (
          <li key={pack.name}>
            <button type="button" disabled={busy} onClick={() => void checkout("pack", pack.name)}>
              Buy {pack.credits.toLocaleString()} credits{pack.price_cents ? ` (${formatCents(pack.price_cents)})` : ""}
            </button>
          </li>
        ))}
      </ul>
      <Saved text={message} />
    </section>
  );
}

/** The ledger's current page, read again whenever the summary is (a purchase, a plan change). */
function Ledger({ summary }: { summary: BillingSummary }) {
  const [pages, setPages] = useState<number[]>([0]);
  const [page, setPage] = useState<LedgerPage | null>(null);
  const [error, setError] = useState("");
  const after = pages[pages.length - 1] ?? 0;

  useEffect(() => {
    get<LedgerPage>(`/v1/billing/ledger?after=${after}&limit=${LEDGER_PAGE}`).then(
      (p) => {
        setPage(p);
        setError("");
      },
      (exc: unknown) => {
        setError(errorText(exc));
      },
    );
  }, [after, summary]);

  const entries: LedgerEntry[] = page?.entries ?? [];
  return (
    <section aria-labelledby="ledger-h" className="card">
      <h2 id="ledger-h">Ledger</h2>
      {error ? <p role="alert">{error}</p> : null}
      {entries.length === 0 && page ? <p className="muted">No entries.</p> : null}
      {entries.length ? (
        <DataTable label="Ledger table" caption={`Credit movements, oldest first (page ${pages.length})`} columns={["When", "Kind", "Amount", "Balance", "For"]}>
          {entries.map((e) => (
            <tr key={e.seq}>
              <td>{when(e.at)}</td>
              <td>{e.kind}</td>
              <td>{e.amount}</td>
              <td>{e.balance ?? "—"}</td>
              <td>
                {e.run_id ? <Link to={`/research/runs/${e.run_id}`}>run {e.run_id.slice(0, 8)}</Link> : null}
                {e.question_id ? " (follow-up)" : ""}
                {e.reason ? <span className="muted"> {e.reason}</span> : null}
              </td>
            </tr>
          ))}
        </DataTable>
      ) : null}
      <nav aria-label="Ledger pages" className="buttons">
        <button
          type="button"
          disabled={pages.length <= 1}
          onClick={() => {
            setPages(pages.slice(0, -1));
          }}
        >
          Previous page
        </button>
        <button
          type="button"
          disabled={page?.next_after === null || page?.next_after === undefined}
          onClick={() => {
            if (page?.next_after != null) setPages([...pages, page.next_after]);
          }}
        >
          Next page
        </button>
      </nav>
    </section>
  );
}
