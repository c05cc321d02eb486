import { act, cleanup, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";

import { mutations, open, sent, serve as serveGateway, seriousViolations, type Sent } from "./testing/test-utils";

afterEach(cleanup);

const ME = { user_id: "u1", tenant_id: "t1", email: "ada@example.org", role: "owner", permissions: [], key_id: null };

// The manage pages are a signed-in owner's: every gateway here knows who is asking.
function serve(answers: Record<string, unknown>) {
  serveGateway(answers, { me: ME });
}

const SETTINGS = { approval_required: false, approval_timeout_s: 3600, pii_policy: "redact", sources: null };
const NO_MODEL = { configured: false, base_url: null, model: null, api_key_set: false, api_key_last4: null, updated_at: null, updated_by: null };
const MODEL = {
  configured: true,
  base_url: "https://llm.example.org/v1",
  model: "gpt-4o-mini",
  api_key_set: true,
  api_key_last4: "9xyz",
  updated_at: "2026-12-06T10:00:00Z",
  updated_by: "u1",
};
const MEMBERS = {
  members: [
    { user_id: "u1", email: "ada@example.org", role: "owner", status: "active", created_at: 1 },
    { user_id: "u2", email: "bob@example.org", role: "member", status: "invited", created_at: 2 },
  ],
};

function settingsGateway(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    "/v1/tenant/settings": SETTINGS,
    "/v1/tenant/model": NO_MODEL,
    "/v1/members": MEMBERS,
    "/v1/keys": { keys: [{ key_id: "k1", name: "ci", scopes: ["runs:read"], status: "active" }] },
    ...extra,
  };
}

describe("settings", () => {
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it("saves every tenant default and keeps the platform's sources unless changed", async () => {
    serve(settingsGateway({ "PATCH /v1/tenant/settings": (s: Sent) => ({ status: 200, body: { ...SETTINGS, ...(s.body as object) } }) }));
    open("/settings");
    fireEvent.click(await screen.findByLabelText("Runs wait for approval before publishing"));
    fireEvent.change(screen.getByLabelText("Approval deadline in seconds"), { target: { value: "86400" } });
    fireEvent.change(screen.getByLabelText("Personal data found in a report"), { target: { value: "block" } });
    expect(await seriousViolations()).toEqual([]);
    fireEvent.click(screen.getByRole("button", { name: "Save settings" }));
    expect(await screen.findByText(/Settings saved/)).toBeTruthy();
    expect(mutations()).toEqual([
      { method: "PATCH", path: "/v1/tenant/settings", body: { approval_required: true, approval_timeout_s: 86400, pii_policy: "block" } },
    ]);
    fireEvent.click(screen.getByLabelText("The web"));
    fireEvent.click(screen.getByRole("button", { name: "Save settings" }));
    await waitFor(() => {
      expect(mutations()[1]?.body).toEqual({
        approval_required: true,
        approval_timeout_s: 86400,
        pii_policy: "block",
        sources: ["corpus", "datasets", "web"],
      });
    });
  });

  it("shows the gateway's refusal and its own checks in an alert", async () => {
    serve(settingsGateway({ "PATCH /v1/tenant/settings": { status: 403, body: { detail: "your role lacks settings:write" } } }));
    open("/settings");
    const deadline = await screen.findByLabelText("Approval deadline in seconds");
    fireEvent.change(deadline, { target: { value: "2" } });
    const form = deadline.closest("form");
    if (!form) throw new Error("the deadline is outside a form");
    fireEvent.submit(form);
    expect((await within(form).findByRole("alert")).textContent).toMatch(/whole number of seconds from 5/);
    expect(mutations()).toEqual([]);
    fireEvent.change(deadline, { target: { value: "600" } });
    for (const label of ["The shared corpus", "Your datasets"]) fireEvent.click(screen.getByLabelText(label));
    fireEvent.submit(form);
    expect((await within(form).findByRole("alert")).textContent).toBe("Choose at least one place for runs to search.");
    fireEvent.click(screen.getByLabelText("Your datasets"));
    fireEvent.submit(form);
    await waitFor(() => {
      expect(within(form).getByRole("alert").textContent).toBe("your role lacks settings:write");
    });
  });

  it("says which model endpoint is set without echoing its key, and replaces it", async () => {
    serve(
      settingsGateway({
        "/v1/tenant/model": MODEL,
        "PUT /v1/tenant/model": (s: Sent) => {
          const body = s.body as { base_url: string };
          if (body.base_url.includes("@")) {
            return {
              status: 422,
              body: { detail: [{ loc: ["body", "base_url"], msg: "Value error, must not carry credentials; give the key as api_key" }] },
            };
          }
          return { status: 200, body: { ...MODEL, model: "llama-3", api_key_last4: "abcd" } };
        },
      }),
    );
    open("/settings");
    expect(await screen.findByText(/Runs use gpt-4o-mini at https:\/\/llm.example.org\/v1; an API key is set \(ending in 9xyz\)/)).toBeTruthy();
    const form = screen.getByRole("form", { name: "Model endpoint" });
    const key = within(form).getByLabelText<HTMLInputElement>("API key");
    expect(key.type).toBe("password");
    expect(key.value).toBe("");
    expect((within(form).getByLabelText<HTMLInputElement>("API root URL")).value).toBe("https://llm.example.org/v1");
    expect(await seriousViolations()).toEqual([]);

    fireEvent.change(within(form).getByLabelText("API root URL"), { target: { value: "https://me:pw@llm.example.org/v1" } });
    fireEvent.change(key, { target: { value: "sk-secret-abcd" } });
    fireEvent.click(within(form).getByRole("button", { name: "Save model endpoint" }));
    const section = form.closest("section");
    if (!section) throw new Error("the model form is outside its section");
    await waitFor(() => {
      expect(within(section).getByRole("alert").textContent).toBe("base_url: Value error, must not carry credentials; give the key as api_key");
    });
    expect(key.value).toBe("");

    fireEvent.change(within(form).getByLabelText("API root URL"), { target: { value: "https://llm.example.org/v1" } });
    fireEvent.change(within(form).getByLabelText("Model name"), { target: { value: "llama-3" } });
    fireEvent.change(key, { target: { value: "sk-secret-abcd" } });
    fireEvent.click(within(form).getByRole("button", { name: "Save model endpoint" }));
    expect(await screen.findByText(/Runs use llama-3 .* \(ending in abcd\)/)).toBeTruthy();
    expect(mutations()[1]).toEqual({
      method: "PUT",
      path: "/v1/tenant/model",
      body: { base_url: "https://llm.example.org/v1", model: "llama-3", api_key: "sk-secret-abcd" },
    });
    expect(key.value).toBe("");
    expect(document.body.textContent).not.toContain("sk-secret");

    fireEvent.click(within(form).getByRole("button", { name: "Remove model endpoint" }));
    fireEvent.click(screen.getByRole("button", { name: "Remove endpoint" }));
    expect(await screen.findByText("Runs use the platform's model.")).toBeTruthy();
    expect(mutations()[2]).toEqual({ method: "DELETE", path: "/v1/tenant/model", body: null });
  });

  it("changes a member's role, shows a 403's reason, and removes only after confirming", async () => {
    serve(
      settingsGateway({
        "PATCH /v1/members/u2": (s: Sent) =>
          (s.body as { role: string }).role === "owner"
            ? { status: 403, body: { detail: "a admin cannot change a member into owner" } }
            : { status: 200, body: { ...MEMBERS.members[1], role: "admin" } },
      }),
    );
    open("/settings");
    const role = await screen.findByLabelText("Role of bob@example.org");
    expect(screen.getByText(/\(you\)/).textContent).toContain("ada@example.org");
    fireEvent.change(role, { target: { value: "owner" } });
    fireEvent.click(within(role.closest("li") ?? document.body).getByRole("button", { name: "Change role" }));
    const members = screen.getByRole("heading", { name: "Members" }).closest("section");
    if (!members) throw new Error("no members section");
    await waitFor(() => {
      expect(within(members).getByRole("alert").textContent).toBe("bob@example.org: a admin cannot change a member into owner");
    });
    fireEvent.change(screen.getByLabelText("Role of bob@example.org"), { target: { value: "admin" } });
    fireEvent.click(within(members).getAllByRole("button", { name: "Change role" })[1] as HTMLElement);
    await waitFor(() => {
      expect(mutations().map((m) => m.body)).toEqual([{ role: "owner" }, { role: "admin" }]);
    });

    fireEvent.click(screen.getByRole("button", { name: "Remove member bob@example.org" }));
    fireEvent.click(screen.getByRole("button", { name: "Keep it" }));
    expect(mutations()).toHaveLength(2);
    fireEvent.click(screen.getByRole("button", { name: "Remove member bob@example.org" }));
    expect(await seriousViolations()).toEqual([]);
    fireEvent.click(screen.getByRole("button", { name: "Remove member" }));
    await waitFor(() => {
      expect(mutations()[2]).toEqual({ method: "DELETE", path: "/v1/members/u2", body: null });
    });
  });

  it("invites a member with the chosen role and shows the one-time token", async () => {
    serve(settingsGateway({ "POST /v1/members": { status: 201, body: { user_id: "u3", invite_token: "inv_123" } } }));
    open("/settings");
    fireEvent.change(await screen.findByLabelText("Member's email"), { target: { value: " cy@example.org " } });
    fireEvent.change(screen.getByLabelText("Role"), { target: { value: "viewer" } });
    fireEvent.click(screen.getByRole("button", { name: "Invite" }));
    expect(await screen.findByText("inv_123")).toBeTruthy();
    expect(mutations()).toEqual([{ method: "POST", path: "/v1/members", body: { email: "cy@example.org", role: "viewer" } }]);
  });
});

describe("datasets", () => {
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  const DATASETS = {
    "/v1/datasets": { datasets: [{ dataset_id: "d1", name: "papers", description: "", created_at: null, documents: 1, by_status: { indexed: 1 } }] },
    "/v1/datasets/papers/documents": {
      documents: [{ document_id: "doc1", title: "Efficiency tables", status: "indexed", reason: null, pages: 3, chunks_done: 4, chunks_total: 4 }],
    },
  };

  it("refuses a file over the gateway's upload limit before sending it", async () => {
    serve(DATASETS);
    open("/datasets");
    const big = new File(["%PDF"], "huge.pdf", { type: "application/pdf" });
    Object.defineProperty(big, "size", { value: 20 * 1024 * 1024 + 1 });
    fireEvent.change(await screen.findByLabelText("Upload a file to papers"), { target: { files: [big] } });
    expect(await screen.findByText("huge.pdf is larger than a dataset accepts (20 MB).")).toBeTruthy();
    expect(mutations()).toEqual([]);
  });

  it("adds a text document and shows what the gateway refuses", async () => {
    let calls = 0;
    serve({
      ...DATASETS,
      "POST /v1/datasets/papers/documents": () =>
        ++calls === 1
          ? { status: 413, body: { detail: "the tenant's upload quota is used up" } }
          : { status: 202, body: { document_id: "doc2", dataset: "papers", content_type: "text/markdown", size: 9, status: "queued" } },
    });
    open("/datasets");
    fireEvent.click(await screen.findByRole("button", { name: "Add a text document to papers" }));
    const form = screen.getByRole("form", { name: "Text document for papers" });
    fireEvent.submit(form);
    expect(within(form).getByRole("alert").textContent).toBe("A document needs a title and some text.");
    fireEvent.change(within(form).getByLabelText("Document title"), { target: { value: "Notes" } });
    fireEvent.change(within(form).getByLabelText("Format"), { target: { value: "text/markdown" } });
    fireEvent.change(within(form).getByLabelText("Text"), { target: { value: "# Notes\n\nCells reached 26%." } });
    expect(await seriousViolations()).toEqual([]);
    fireEvent.click(within(form).getByRole("button", { name: "Add document" }));
    await waitFor(() => {
      expect(within(form).getByRole("alert").textContent).toBe("the tenant's upload quota is used up");
    });
    fireEvent.click(within(form).getByRole("button", { name: "Add document" }));
    expect(await screen.findByText("Notes added; indexing follows.")).toBeTruthy();
    expect(mutations()).toEqual([
      { method: "POST", path: "/v1/datasets/papers/documents", body: { title: "Notes", content_type: "text/markdown", content: "# Notes\n\nCells reached 26%." } },
      { method: "POST", path: "/v1/datasets/papers/documents", body: { title: "Notes", content_type: "text/markdown", content: "# Notes\n\nCells reached 26%." } },
    ]);
  });

  it("deletes a dataset only after confirming", async () => {
    serve({ ...DATASETS, "DELETE /v1/datasets/papers": { status: 202, body: { dataset_id: "d1", status: "deleted" } } });
    open("/datasets");
    fireEvent.click(await screen.findByRole("button", { name: "Delete dataset papers" }));
    expect(screen.getByText(/— 1 document \(1 indexed\)/)).toBeTruthy();
    expect(screen.getByRole("group", { name: "Delete papers and its 1 document?" })).toBeTruthy();
    expect(document.activeElement?.textContent).toBe("Keep it");
    fireEvent.click(screen.getByRole("button", { name: "Keep it" }));
    expect(mutations()).toEqual([]);
    await waitFor(() => {
      expect(document.activeElement?.getAttribute("aria-label")).toBe("Delete dataset papers");
    });
    fireEvent.click(screen.getByRole("button", { name: "Delete dataset papers" }));
    fireEvent.click(screen.getByRole("button", { name: "Delete dataset" }));
    await waitFor(() => {
      expect(mutations()).toEqual([{ method: "DELETE", path: "/v1/datasets/papers", body: null }]);
    });
  });
});

describe("monitors", () => {
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it("shows why a monitor could not be paused", async () => {
    serve({
      "/v1/monitors": {
        monitors: [{ monitor_id: "m1", question: "Weekly solar news", schedule: { cron: "0 8 * * 1" }, status: "active", next_slot: null, runs: [] }],
      },
      "POST /v1/monitors/m1/pause": { status: 409, body: { detail: "the monitor is being deleted" } },
    });
    open("/monitors");
    fireEvent.click(await screen.findByRole("button", { name: "Pause monitor: Weekly solar news" }));
    expect(await screen.findByText("Weekly solar news: the monitor is being deleted")).toBeTruthy();
    expect(screen.getByText("Weekly solar news: the monitor is being deleted").getAttribute("role")).toBe("alert");
  });
});

describe("the runs list", () => {
  afterEach(() => {
    vi.useRealTimers();
    vi.unstubAllGlobals();
    Object.defineProperty(document, "hidden", { configurable: true, value: false });
  });

  const run = (state: string) => ({ run_id: "r1", state, question: "How efficient are perovskite solar cells?", created_at: null, updated_at: null, error: null });
  const listReads = () => sent.filter((s) => s.method === "GET" && s.path === "/v1/runs").length;

  /** Serves one run, in whatever `state()` says at each read (billing down), opens `path` and waits for `shown`. */
  async function openRuns(path: string, state: () => string, shown: string) {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    serve({ "/v1/runs": () => ({ status: 200, body: { runs: [run(state())] } }), "/v1/billing/summary": { status: 503, body: { detail: "down" } } });
    open(path);
    expect(await screen.findByText(shown)).toBeTruthy();
  }

  it("follows a run's state while it can change, and pauses while the tab is hidden", async () => {
    let state = "running";
    await openRuns("/research?state=active", () => state, "Running");
    const before = listReads();

    Object.defineProperty(document, "hidden", { configurable: true, value: true });
    act(() => {
      document.dispatchEvent(new Event("visibilitychange"));
    });
    await act(() => vi.advanceTimersByTimeAsync(12_000));
    expect(listReads()).toBe(before);

    state = "completed";
    Object.defineProperty(document, "hidden", { configurable: true, value: false });
    act(() => {
      document.dispatchEvent(new Event("visibilitychange"));
    });
    // The filter stays: a completed run leaves "In progress", and nothing is read afterwards.
    expect(await screen.findByText("No run matches.")).toBeTruthy();
    expect((screen.getByLabelText<HTMLSelectElement>("State")).value).toBe("active");
    const settled = listReads();
    await act(() => vi.advanceTimersByTimeAsync(12_000));
    expect(listReads()).toBe(settled);
  });

  it("reads the list again every few seconds while a run is in progress", async () => {
    let state = "planning";
    await openRuns("/research", () => state, "Planning");
    const link = screen.getByRole("link", { name: "How efficient are perovskite solar cells?" });
    state = "waiting_approval";
    await act(() => vi.advanceTimersByTimeAsync(4_500));
    expect(await within(screen.getByRole("table")).findByText("Awaiting approval")).toBeTruthy();
    // The row was updated in place, not rebuilt.
    expect(screen.getByRole("link", { name: "How efficient are perovskite solar cells?" })).toBe(link);
  });
});
