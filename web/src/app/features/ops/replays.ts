/* Replays of the event log as an operator reads them: the state in words, the progress of a
 * running one, and the live-versus-rebuilt counts of its report. */

import type { Replay, ReplayReport, ReplayState } from "./types";

/** How often a page reads a running replay again. */
export const POLL_MS = 2000;

const STATE_TEXT: Record<ReplayState, string> = {
  running: "running",
  identical: "identical",
  different: "different",
  failed: "failed",
  abandoned: "abandoned (its gateway went silent)",
};

export function stateText(state: ReplayState): string {
  return STATE_TEXT[state];
}

/** Any replay still running: the list is polled while one is. */
export function anyRunning(replays: readonly Replay[]): boolean {
  return replays.some((replay) => replay.state === "running");
}

/** "1,200 of 5,000 messages (24%)" while running; the messages read once it ended. */
export function progressText(replay: Replay): string {
  const read = replay.messages.toLocaleString();
  if (replay.state !== "running") return `${read} messages read`;
  // The stream's sequences from first to last bound what it will read (deleted ones are skipped).
  // An empty stream reports 0 for both (sequences begin at 1).
  const total = Math.max(0, replay.last_seq - Math.max(replay.first_seq, 1) + 1);
  if (!total) return `${read} messages read`;
  const percent = Math.min(100, Math.floor((replay.messages / total) * 100));
  return `${read} of ${total.toLocaleString()} messages (${String(percent)}%)`;
}

/** The result in a few words: what the comparison found, or why there is none. */
export function resultText(replay: Replay): string {
  const report = replay.report;
  if (replay.state === "running") return "—";
  if (!report) return replay.state === "abandoned" ? "no report" : "—";
  if (report.error) return `failed: ${report.error}`;
  if (report.identical) return "read models identical to the rebuild";
  const n = report.difference_count;
  return `${n.toLocaleString()} difference${n === 1 ? "" : "s"}`;
}

/** Each read model's row count live and rebuilt, and whether they agree. */
export function countRows(report: ReplayReport): { model: string; live: number; rebuilt: number; same: boolean }[] {
  return (
    [
      ["Runs", report.runs_live, report.runs_rebuilt],
      ["Documents", report.documents_live, report.documents_rebuilt],
      ["Monitors", report.monitors_live, report.monitors_rebuilt],
    ] as const
  ).map(([model, live, rebuilt]) => ({ model, live, rebuilt, same: live === rebuilt }));
}
