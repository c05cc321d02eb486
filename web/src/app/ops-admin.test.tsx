import { cleanup, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";

import { cleanUpEachTest, HOSTILE, opsPerson } from "./testing/ops-people";
import { mutations, open, sent, serve, seriousViolations } from "./testing/test-utils";

cleanUpEachTest();

const OPERATOR = opsPerson(["ops:read"]);
const ADMIN = opsPerson(["ops:read", "ops:payload", "ops:redrive", "ops:replay", "ops:audit"]);
const ID = "0123456789abcdef0123456789abcdef";

function replay(state: string, messages: number, report: unknown = null) {
  return {
    replay_id: ID,
    requested_by: "admin@example.org",
    started_at: "2026-12-07T01:00:00Z",
    updated_at: "2026-12-07T01:00:01Z",
    finished_at: state === "running" ? null : "2026-12-07T01:00:03Z",
    state,
    messages,
    first_seq: 1,
    last_seq: 40,
    report,
  };
}

const REPORT = {
  messages: 40,
  applied: 38,
  unparsable: 0,
  first_seq: 1,
  last_seq: 40,
  runs_live: 2,
  runs_rebuilt: 2,
  documents_live: 1,
  documents_rebuilt: 1,
  monitors_live: 0,
  monitors_rebuilt: 0,
  rebuild_s: 0.8,
  compare_s: 0.05,
  identical: false,
  difference_count: 201,
  differences: [`runs r1 status: live completed, rebuilt ${HOSTILE}`],
  error: null,
};

describe("who sees replays and the audit log", () => {
  it("lists them in the console's navigation for an admin only, and tells an operator they are not allowed", async () => {
    serve({ "/v1/ops/streams": { streams: [] } }, { me: ADMIN });
    open("/ops/streams");
    const nav = await screen.findByRole("navigation", { name: "Operations" });
    expect(within(nav).getByRole("link", { name: "Replays" })).toBeTruthy();
    expect(within(nav).getByRole("link", { name: "Audit log" })).toBeTruthy();
    cleanup();
    serve({ "/v1/ops/streams": { streams: [] } }, { me: OPERATOR });
    open("/ops/streams");
    const shown = await screen.findByRole("navigation", { name: "Operations" });
    expect(within(shown).queryByRole("link", { name: "Replays" })).toBeNull();
    expect(within(shown).queryByRole("link", { name: "Audit log" })).toBeNull();
    for (const path of ["/ops/replays", `/ops/replays/${ID}`, "/ops/audit"]) {
      cleanup();
      serve({}, { me: OPERATOR });
      open(path);
      expect(await screen.findByText(/^Not allowed: .* is for platform admins only\.$/)).toBeTruthy();
      expect(sent.filter((s) => s.path.startsWith("/v1/ops"))).toEqual([]);
    }
    expect(await seriousViolations()).toEqual([]);
  });
});

describe("replays", () => {
  it("starts one only after confirming, polls it while it runs, and shows its result", async () => {
    let started = false;
    let reads = 0;
    serve(
      {
        "/v1/ops/replays": () => {
          if (!started) return { replays: [] };
          reads += 1;
          return { replays: [reads < 2 ? replay("running", 10) : replay("identical", 40, { ...REPORT, identical: true, difference_count: 0, differences: [] })] };
        },
        "POST /v1/ops/replays": () => {
          started = true;
          return { status: 202, body: replay("running", 0) };
        },
      },
      { me: ADMIN },
    );
    open("/ops/replays");
    expect(await screen.findByText("No replay yet.")).toBeTruthy();
    fireEvent.click(screen.getByRole("button", { name: "Replay the event log" }));
    expect(mutations()).toEqual([]);
    const asked = screen.getByRole("group", { name: /^Rebuild the read models from the event stream into scratch tables and compare/ });
    fireEvent.click(within(asked).getByRole("button", { name: "Replay" }));
    expect(await screen.findByText(/^Replay 0123456789ab… started: reading the stream up to message 40\.$/)).toBeTruthy();
    const table = await screen.findByRole("region", { name: "Replays table" });
    expect(within(table).getByText("10 of 40 messages (25%)")).toBeTruthy();
    expect(await within(table).findByText("read models identical to the rebuild", {}, { timeout: 4000 })).toBeTruthy();
    expect(within(table).getByRole("link", { name: ID.slice(0, 8) }).getAttribute("href")).toBe(`/ops/replays/${ID}`);
    expect(mutations()).toEqual([{ method: "POST", path: "/v1/ops/replays", body: {} }]);
    expect(await seriousViolations()).toEqual([]);
  });

  it("says a replay is already running when the gateway answers 409", async () => {
    serve(
      {
        "/v1/ops/replays": { replays: [replay("identical", 40, { ...REPORT, identical: true, difference_count: 0, differences: [] })] },
        "POST /v1/ops/replays": { status: 409, body: { detail: "replay x is running" } },
      },
      { me: ADMIN },
    );
    open("/ops/replays");
    fireEvent.click(await screen.findByRole("button", { name: "Replay the event log" }));
    fireEvent.click(screen.getByRole("button", { name: "Replay" }));
    expect(await screen.findByText("A replay is already running: wait for its report.")).toBeTruthy();
  });

  it("shows a report's counts and its differences as text, never markup", async () => {
    serve({ [`/v1/ops/replays/${ID}`]: replay("different", 40, REPORT) }, { me: ADMIN });
    open(`/ops/replays/${ID}`);
    const differences = await screen.findByRole("region", { name: "Differences" });
    expect(differences.textContent).toContain(HOSTILE);
    expect(document.querySelector("main img")).toBeNull();
    expect(screen.getByText("The first 1 of 201 differences.")).toBeTruthy();
    const counts = screen.getByRole("region", { name: "Counts table" });
    expect(within(counts).getAllByRole("rowheader").map((h) => h.textContent)).toEqual(["Runs", "Documents", "Monitors"]);
    expect(await seriousViolations()).toEqual([]);
  });
});

describe("the audit log", () => {
  const entry = (seq: number, kind: string) => ({
    seq,
    at: "2026-12-07T01:00:00Z",
    kind,
    actor: { user_id: "u1", name: "admin@example.org" },
    source_address: "127.0.0.1",
    target: "/v1/ops/replays",
    detail: { note: HOSTILE },
  });

  it("lists entries newest first, pages older, and filters by kind through the address", async () => {
    serve(
      {
        "/v1/ops/audit": () =>
          sent.filter((s) => s.path === "/v1/ops/audit").length === 2
            ? { entries: [entry(1, "ops.read")], next_before: null }
            : { entries: [entry(3, "ops.replay.started"), entry(2, "ops.read")], next_before: 2 },
      },
      { me: ADMIN },
    );
    const router = open("/ops/audit");
    const table = await screen.findByRole("region", { name: "Audit log table" });
    expect(within(table).getAllByRole("row").slice(1).map((r) => within(r).getAllByRole("cell")[0]?.textContent)).toEqual([
      "ops.replay.started",
      "ops.read",
    ]);
    expect(within(table).getAllByText(JSON.stringify({ note: HOSTILE }))).toHaveLength(2);
    expect(document.querySelector("main img")).toBeNull();
    fireEvent.click(screen.getByRole("button", { name: "Older entries" }));
    expect(await screen.findByText("No older entry matches.")).toBeTruthy();
    expect(within(table).getAllByRole("row")).toHaveLength(4);
    fireEvent.change(screen.getByLabelText("Kind"), { target: { value: "ops.replay.started" } });
    fireEvent.click(screen.getByRole("button", { name: "Filter" }));
    await waitFor(() => {
      expect(router.state.location.search).toBe("?kind=ops.replay.started");
    });
    expect(await seriousViolations()).toEqual([]);
  });
});
