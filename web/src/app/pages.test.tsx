import { cleanup, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { mutations, open, serve as serveGateway, seriousViolations } from "./testing/test-utils";

// Vitest runs without globals here, so Testing Library cannot unmount between tests by itself.
afterEach(cleanup);

const at = (s: number) => `2026-12-06T10:00:${String(s).padStart(2, "0")}Z`;

function runView(state: string) {
  return {
    run_id: "r1",
    state,
    question: "How efficient are perovskite solar cells?",
    depth: 2,
    max_sources: 8,
    sub_questions: ["What efficiencies are certified?"],
    steps: [{ step: "plan", status: "finished", detail: "", at: at(2) }],
    sources: [{ number: 1, source_id: "s1", title: "Efficiency tables", location: "§2" }],
    passages_found: 1,
    cost: { estimate: null, reserved: 67, settled: 23, refunded: 44, closed: state === "completed" },
    report:
      state === "completed"
        ? {
            title: "Perovskite efficiency",
            markdown: { path: "r1/report.md", sha256: "0".repeat(64) },
            pdf: { path: "r1/report.pdf", sha256: "1".repeat(64) },
            docx: { path: "r1/report.docx", sha256: "2".repeat(64) },
          }
        : null,
    approval:
      state === "waiting_approval"
        ? { approval_id: "a1", subject: "publish", reason: "a human approves before publishing", deadline: at(59), status: "pending" }
        : null,
    guardrails: [],
    cancel_requested: false,
    error: null,
    created_at: at(0),
    updated_at: at(9),
  };
}

/** The gateway's answers for one signed-in tenant, as the routes describe them. */
function gateway(state = "completed", usedPct = 10): Record<string, unknown> {
  return {
    "/v1/auth/me": { user_id: "u1", tenant_id: "t1", email: "ada@example.org", role: "owner", permissions: ["runs:create"], key_id: null },
    "/v1/runs": { runs: [{ run_id: "r1", state, question: "How efficient are perovskite solar cells?", created_at: at(0), updated_at: at(9), error: null }] },
    "/v1/billing/summary": {
      tenant_id: "t1",
      plan: { name: "free", monthly_credits: 500, concurrency: 5, overage: false, tools: ["web_search", "llm_generate"] },
      period: "2026-12",
      balance: 110,
      reserved: 0,
      budget: 500,
      used_pct: usedPct,
      tier: usedPct >= 90 ? "block" : usedPct >= 75 ? "throttle" : "allow",
      used_by_tool: { llm_generate: 300 },
      used_by_run: { r1: 23 },
      overage: { credits: 0, tokens: 0, amount_usd: "0.00" },
      recent: [],
      stripe_mode: "mock",
    },
    "/v1/billing/ledger": { entries: [], next_after: null },
    "/v1/datasets": { datasets: [] },
    "/v1/templates": { templates: [] },
    "/v1/monitors": {
      monitors: [
        {
          monitor_id: "m1",
          question: "Weekly solar news",
          schedule: { interval_s: 604800 },
          status: "active",
          next_slot: at(30),
          runs: [{ slot: at(1), run_id: "r1" }],
        },
      ],
    },
    "/v1/keys": { keys: [] },
    "/v1/tenant/settings": { approval_required: false, approval_timeout_s: 3600, pii_policy: "redact" },
    "/v1/runs/r1": runView(state),
    "/v1/runs/r1/report.md": "# Perovskite efficiency\n\n## Findings\n\nCells reached 26% [1].",
    "/v1/runs/r1/shares": { shares: [] },
    "/v1/runs/r1/questions": { questions: [] },
  };
}

// A run's actions answer 202 Accepted; an edit (a template's new version) answers with the version.
function serve(answers: Record<string, unknown>) {
  serveGateway(answers, { mutated: (r) => (r.method === "POST" ? { status: 202, body: {} } : { version: 3 }) });
}

describe("workspace pages", () => {
  beforeEach(() => {
    window.history.replaceState(null, "", "/");
  });
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it("sends an anonymous visitor from /research to /login and back", async () => {
    serve({});
    const router = open("/research?q=solar");
    await screen.findByRole("button", { name: "Log in" });
    expect(router.state.location.pathname).toBe("/login");
    expect(router.state.location.search).toBe(`?next=${encodeURIComponent("/research?q=solar")}`);
    expect(screen.getByLabelText("Email")).toBeTruthy();
    expect(screen.getByLabelText("Password")).toBeTruthy();
    expect(await seriousViolations()).toEqual([]);
  });

  it("labels the sign-up form as the journey expects", async () => {
    serve({});
    open("/signup");
    await screen.findByRole("button", { name: "Sign up" });
    for (const label of ["Email", "Password", "Workspace name"]) expect(screen.getByLabelText(label)).toBeTruthy();
    expect(await seriousViolations()).toEqual([]);
  });

  it("signs up with the workspace named, and asks for a name when it is only blanks", async () => {
    serveGateway({ "POST /v1/auth/signup": { status: 409, body: { detail: "that email is taken" } } });
    open("/signup");
    const submit = await screen.findByRole("button", { name: "Sign up" });
    fireEvent.change(screen.getByLabelText("Email"), { target: { value: " ada@example.com " } });
    fireEvent.change(screen.getByLabelText("Password"), { target: { value: "a long enough password" } });
    fireEvent.change(screen.getByLabelText("Workspace name"), { target: { value: "   " } });
    fireEvent.click(submit);
    expect(await screen.findByText("Workspace name: give your workspace a name.")).toBeTruthy();
    expect(mutations()).toEqual([]);
    fireEvent.change(screen.getByLabelText("Workspace name"), { target: { value: "Ada's lab" } });
    fireEvent.click(submit);
    expect(await screen.findByText(/that email is taken/)).toBeTruthy();
    expect(mutations().map((m) => m.body)).toEqual([
      { email: "ada@example.com", password: "a long enough password", tenant_name: "Ada's lab", session: "cookie" },
    ]);
    expect(screen.getByLabelText("Password").getAttribute("autocomplete")).toBe("new-password");
  });

  it("shows the runs and the new-run form with what the plan does not allow", async () => {
    serve(gateway());
    open("/research");
    await screen.findByRole("link", { name: "How efficient are perovskite solar cells?" });
    expect(screen.getByLabelText("Question")).toBeTruthy();
    expect(screen.getByRole("button", { name: "Start research" })).toBeTruthy();
    expect(screen.getByLabelText("Review the plan")).toBeTruthy();
    // The free plan has no fetch_url: the web is off, with the reason beside it.
    const web = screen.getByLabelText("The web");
    expect((web as HTMLInputElement).disabled).toBe(true);
    expect(screen.getByText(/does not include web research/)).toBeTruthy();
    expect(await screen.findByText("23 credits")).toBeTruthy();
    expect(await seriousViolations()).toEqual([]);
  });

  it("starts a run with the form's settings, after refusing a question too short", async () => {
    serve({
      ...gateway(),
      "/v1/templates": { templates: [{ template_id: "tp1", name: "Weekly brief", version: 1 }] },
      "POST /v1/runs": { status: 202, body: { run_id: "r1" } },
    });
    open("/research");
    const start = await screen.findByRole("button", { name: "Start research" });
    await screen.findByRole("option", { name: "Weekly brief" });
    fireEvent.change(screen.getByLabelText("Question"), { target: { value: "  ok " } });
    fireEvent.click(start);
    expect(await screen.findByText("Question: write at least a few words.")).toBeTruthy();
    fireEvent.change(screen.getByLabelText("Question"), { target: { value: "  How efficient are tandem cells? " } });
    fireEvent.change(screen.getByLabelText("Depth"), { target: { value: "1" } });
    fireEvent.change(screen.getByLabelText("Maximum sources"), { target: { value: "5" } });
    fireEvent.change(screen.getByLabelText("Length"), { target: { value: "brief" } });
    fireEvent.change(screen.getByLabelText("Approval"), { target: { value: "required" } });
    fireEvent.change(screen.getByLabelText("Template"), { target: { value: "tp1" } });
    fireEvent.click(screen.getByLabelText("Sample corpus"));
    fireEvent.click(screen.getByLabelText("Review the plan"));
    fireEvent.click(start);
    await waitFor(() => {
      expect(mutations().map((m) => m.body)).toEqual([
        {
          question: "How efficient are tandem cells?",
          depth: 1,
          max_sources: 5,
          length: "brief",
          sources: ["corpus"],
          template_id: "tp1",
          approval_required: true,
          review_plan: true,
        },
      ]);
    });
  });

  it("shows a completed run's report with linked citations and downloads", async () => {
    serve(gateway("completed"));
    open("/research/runs/r1");
    await screen.findByRole("heading", { name: "Perovskite efficiency", level: 1 });
    expect((await screen.findByRole("link", { name: "Source 1: Efficiency tables" })).getAttribute("href")).toBe("#source-1");
    const downloads = screen.getByRole("navigation", { name: "Downloads" });
    expect(within(downloads).getByRole("link", { name: "PDF" }).getAttribute("href")).toBe("/v1/runs/r1/report.pdf");
    expect(within(downloads).getByRole("link", { name: "Markdown" }).getAttribute("href")).toBe("/v1/runs/r1/report.md");
    expect(within(downloads).getByRole("link", { name: "Word" }).getAttribute("href")).toBe("/v1/runs/r1/report.docx");
    expect(screen.getByRole("button", { name: "Ask a follow-up" })).toBeTruthy();
    expect(screen.getByRole("button", { name: "Share" })).toBeTruthy();
    expect(screen.queryByRole("button", { name: "Cancel" })).toBeNull();
    expect(await seriousViolations()).toEqual([]);
  });

  it("asks for approval with a comment and the deadline", async () => {
    serve(gateway("waiting_approval"));
    open("/research/runs/r1");
    await screen.findByRole("button", { name: "Approve" });
    expect(screen.getByRole("button", { name: "Reject" })).toBeTruthy();
    expect(screen.getByLabelText("Comment")).toBeTruthy();
    expect(screen.getByText(/Decide before/)).toBeTruthy();
    expect(screen.getByRole("button", { name: "Cancel" })).toBeTruthy();
    expect(await seriousViolations()).toEqual([]);
    fireEvent.change(screen.getByLabelText("Comment"), { target: { value: "sources check out" } });
    fireEvent.click(screen.getByRole("button", { name: "Approve" }));
    await waitFor(() => {
      expect(mutations()).toEqual([
        { method: "POST", path: "/v1/runs/r1/approval", body: { decision: "approve", comment: "sources check out" } },
      ]);
    });
  });

  it("edits the plan under review and continues with the edited sub-questions", async () => {
    serve(gateway("awaiting_plan_review"));
    open("/research/runs/r1");
    const first = await screen.findByLabelText("Sub-question 1");
    fireEvent.change(first, { target: { value: "Which efficiencies are certified, and by whom?" } });
    fireEvent.click(screen.getByRole("button", { name: "Add sub-question" }));
    fireEvent.change(screen.getByLabelText("Sub-question 2"), { target: { value: "How do they degrade?" } });
    fireEvent.change(screen.getByLabelText("Comment"), { target: { value: "narrower" } });
    expect(await seriousViolations()).toEqual([]);
    fireEvent.click(screen.getByRole("button", { name: "Continue" }));
    await waitFor(() => {
      expect(mutations()).toEqual([
        {
          method: "POST",
          path: "/v1/runs/r1/plan",
          body: {
            action: "continue",
            sub_questions: ["Which efficiencies are certified, and by whom?", "How do they degrade?"],
            comment: "narrower",
          },
        },
      ]);
    });
  });

  it("removes a sub-question and cancels a plan under review", async () => {
    serve(gateway("awaiting_plan_review"));
    open("/research/runs/r1");
    fireEvent.click(await screen.findByRole("button", { name: "Remove sub-question 1" }));
    expect(screen.queryByLabelText("Sub-question 1")).toBeNull();
    fireEvent.click(screen.getByRole("button", { name: "Cancel" }));
    await waitFor(() => {
      expect(mutations()).toEqual([{ method: "POST", path: "/v1/runs/r1/plan", body: { action: "cancel", comment: "" } }]);
    });
  });

  it("says a run of another tenant is not found", async () => {
    serve(gateway());
    open("/research/runs/someone-elses");
    expect(await screen.findByRole("heading", { name: "Not found" })).toBeTruthy();
  });

  it("warns on /billing from 75% of the budget", async () => {
    serve(gateway("completed", 80));
    open("/billing");
    const alert = await screen.findByText(/You have used 80% of this period's credits/);
    expect(alert.getAttribute("role")).toBe("alert");
    expect(screen.getByRole("img", { name: /By tool: llm_generate 300 credits/ })).toBeTruthy();
    expect(await seriousViolations()).toEqual([]);
  });

  it("saves an edited template as a new version with its whole body", async () => {
    // What a template's version holds; the saved version is the same body with the edit.
    const body = {
      name: "Market scan",
      description: "",
      depth: 1,
      max_sources: 5,
      sources: ["corpus"],
      length: "brief",
      target_words: null,
      outline: [{ heading: "Players" }],
      tone: "executive",
    };
    const template = { template_id: "tp1", ...body, version: 2, current_version: 2 };
    serve({ ...gateway(), "/v1/templates": { templates: [template] }, "/v1/templates/tp1": template });
    open("/templates");
    fireEvent.click(await screen.findByRole("button", { name: "Edit template Market scan" }));
    const form = await screen.findByRole("form", { name: "Edit template Market scan" });
    fireEvent.change(within(form).getByLabelText("Depth"), { target: { value: "2" } });
    expect(screen.getByLabelText("Earlier version of Market scan")).toBeTruthy();
    expect(await seriousViolations()).toEqual([]);
    fireEvent.click(within(form).getByRole("button", { name: "Save as a new version" }));
    expect(await screen.findByText("Saved as version 3.")).toBeTruthy();
    expect(mutations()).toEqual([{ method: "PUT", path: "/v1/templates/tp1", body: { ...body, depth: 2 } }]);
  });

  it("lists a monitor with the runs its slots started, and pauses it", async () => {
    serve(gateway());
    open("/monitors");
    const runs = await screen.findByRole("list", { name: "Runs started by the monitor: Weekly solar news" });
    expect(within(runs).getByRole("link", { name: "run r1" }).getAttribute("href")).toBe("/research/runs/r1");
    fireEvent.click(screen.getByRole("button", { name: "Pause monitor: Weekly solar news" }));
    await waitFor(() => {
      expect(mutations()).toEqual([{ method: "POST", path: "/v1/monitors/m1/pause", body: {} }]);
    });
  });

  it("creates an API key, shows it once and lists it; a refused revoke shows why", async () => {
    const key = { key_id: "k1", name: "ci", scopes: ["runs:read", "runs:create"], status: "active" };
    let keys: unknown[] = [];
    serve({
      ...gateway(),
      "/v1/keys": () => ({ keys }),
      "POST /v1/keys": () => ((keys = [key]), { api_key: "qk_secret" }),
      "DELETE /v1/keys/k1": { status: 403, body: { detail: "only an admin may revoke" } },
    });
    open("/settings");
    fireEvent.change(await screen.findByLabelText("Key name"), { target: { value: " ci " } });
    fireEvent.click(screen.getByRole("button", { name: "Create key" }));
    expect((await screen.findByText("qk_secret")).closest("p")?.getAttribute("role")).toBe("status");
    fireEvent.click(await screen.findByRole("button", { name: "Revoke key ci" }));
    fireEvent.click(screen.getByRole("button", { name: "Revoke key" }));
    expect(await screen.findByText("only an admin may revoke")).toBeTruthy();
    expect(mutations().map((m) => [m.method, m.path, m.body])).toEqual([
      ["POST", "/v1/keys", { name: "ci", scopes: ["runs:read", "runs:create"] }],
      ["DELETE", "/v1/keys/k1", null],
    ]);
  });

  it.each(["/datasets", "/templates", "/monitors", "/settings"])("renders %s accessibly", async (path) => {
    serve(gateway());
    open(path);
    await screen.findByRole("heading", { level: 1 });
    await screen.findAllByRole("button", { name: /Create|Save/ });
    expect(await seriousViolations()).toEqual([]);
  });
});
