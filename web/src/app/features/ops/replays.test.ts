import { describe, expect, it } from "vitest";

import { auditFiltersFrom, auditQuery } from "./audit";
import { anyRunning, countRows, progressText, resultText } from "./replays";
import type { Replay, ReplayReport } from "./types";

const report = (over: Partial<ReplayReport> = {}): ReplayReport => ({
  messages: 5000,
  applied: 4900,
  unparsable: 0,
  first_seq: 1,
  last_seq: 5000,
  runs_live: 12,
  runs_rebuilt: 12,
  documents_live: 3,
  documents_rebuilt: 2,
  monitors_live: 0,
  monitors_rebuilt: 0,
  rebuild_s: 1.5,
  compare_s: 0.2,
  identical: true,
  difference_count: 0,
  differences: [],
  error: null,
  ...over,
});

const replay = (over: Partial<Replay> = {}): Replay => ({
  replay_id: "a".repeat(32),
  requested_by: "admin@example.org",
  started_at: "2026-12-07T01:00:00Z",
  updated_at: "2026-12-07T01:00:01Z",
  finished_at: null,
  state: "running",
  messages: 1200,
  first_seq: 1,
  last_seq: 5000,
  report: null,
  ...over,
});

describe("a replay in words", () => {
  it("shows a running replay's progress against the stream's last message when it began", () => {
    expect(progressText(replay())).toBe(`${(1200).toLocaleString()} of ${(5000).toLocaleString()} messages (24%)`);
    expect(progressText(replay({ first_seq: 0, last_seq: 0, messages: 0 }))).toBe("0 messages read");
    expect(progressText(replay({ state: "identical", messages: 4998 }))).toBe(`${(4998).toLocaleString()} messages read`);
  });

  it("says what the comparison found, or why there is none", () => {
    expect(resultText(replay())).toBe("—");
    expect(resultText(replay({ state: "identical", report: report() }))).toBe("read models identical to the rebuild");
    expect(resultText(replay({ state: "different", report: report({ identical: false, difference_count: 1 }) }))).toBe("1 difference");
    expect(resultText(replay({ state: "different", report: report({ identical: false, difference_count: 1500 }) }))).toBe(
      `${(1500).toLocaleString()} differences`,
    );
    expect(resultText(replay({ state: "failed", report: report({ identical: false, error: "OperationalError: gone" }) }))).toBe(
      "failed: OperationalError: gone",
    );
    expect(resultText(replay({ state: "abandoned" }))).toBe("no report");
  });

  it("is polled only while a replay runs, and lines up each read model live and rebuilt", () => {
    expect(anyRunning([replay({ state: "identical" }), replay()])).toBe(true);
    expect(anyRunning([replay({ state: "identical" }), replay({ state: "abandoned" })])).toBe(false);
    expect(countRows(report()).map((r) => [r.model, r.same])).toEqual([
      ["Runs", true],
      ["Documents", false],
      ["Monitors", true],
    ]);
  });
});

describe("the audit log's filters", () => {
  it("keeps a known kind and an actor, and leaves out empty ones", () => {
    const filters = auditFiltersFrom(new URLSearchParams("kind=ops.replay.started&actor=%20a%40b.c%20"));
    expect(filters).toEqual({ kind: "ops.replay.started", actor: "a@b.c" });
    expect(auditQuery(filters).toString()).toBe("kind=ops.replay.started&actor=a%40b.c");
    expect(auditFiltersFrom(new URLSearchParams("kind=nonsense"))).toEqual({ kind: "", actor: "" });
    expect(auditQuery({ kind: "", actor: "" }).toString()).toBe("");
  });
});
