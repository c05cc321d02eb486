import { fireEvent, screen, within } from "@testing-library/react";
import { describe, expect, it } from "vitest";

import { cleanUpEachTest, HOSTILE, opsPerson } from "./testing/ops-people";
import { CANDIDATE, ROLLOUT_ID, rollout } from "./testing/rollout-fixture";
import { mutations, open, serve, seriousViolations } from "./testing/test-utils";

cleanUpEachTest();

const OPERATOR = opsPerson(["ops:read"]);
const ADMIN = opsPerson(["ops:read", "ops:payload", "ops:redrive", "ops:replay", "ops:audit", "rollouts:manage"]);
const ONE = `/v1/ops/rollouts/${ROLLOUT_ID}`;

describe("the rollouts list", () => {
  it("lists each rollout's versions, status, stage and last decision, linked to its page", async () => {
    serve({ "/v1/ops/rollouts": { rollouts: [rollout("completed")] } }, { me: OPERATOR });
    open("/ops/rollouts");
    const nav = await screen.findByRole("navigation", { name: "Operations" });
    expect(within(nav).getByRole("link", { name: "Rollouts" })).toBeTruthy();
    const table = await screen.findByRole("region", { name: "Rollouts table" });
    const cells = within(table).getAllByRole("cell").map((c) => c.textContent);
    expect(cells).toEqual([
      "planner",
      CANDIDATE.slice(0, 8),
      "55555555",
      "completed: the candidate is the stable version",
      "25% (stage 2 of 4)",
      expect.stringMatching(/^held: inconclusive: not enough evidence either way \(/) as string,
    ]);
    expect(within(table).getByRole("link", { name: ROLLOUT_ID.slice(0, 8) }).getAttribute("href")).toBe(`/ops/rollouts/${ROLLOUT_ID}`);
    expect(await seriousViolations()).toEqual([]);
  });
});

describe("one rollout", () => {
  it("shows its charts, the latest look, its decisions with their numbers and a note as text", async () => {
    serve({ [ONE]: rollout("completed", HOSTILE) }, { me: ADMIN });
    open(`/ops/rollouts/${ROLLOUT_ID}`);
    const decisions = await screen.findByRole("region", { name: "Decisions table" });
    const rows = within(decisions).getAllByRole("row").slice(1);
    expect(rows.map((r) => within(r).getByRole("rowheader").textContent)).toEqual([
      "started",
      "promoted to 25%",
      "held: inconclusive: not enough evidence either way",
    ]);
    expect(rows[1]?.textContent).toContain("candidate 12 runs / 3 tenants; stable 40 runs / 9 tenants; error rate: no harm");
    expect(rows[0]?.textContent).toContain(HOSTILE);
    expect(document.querySelector("main img")).toBeNull();
    const charts = screen.getAllByRole("img");
    expect(charts.map((c) => c.getAttribute("aria-label"))).toEqual([
      "Error rate per version over 6 readings; latest: stable 0.02, candidate 0.04",
      "p95 duration (s) per version over 6 readings; latest: stable 10, candidate 11",
    ]);
    expect(screen.getAllByText("No look has measured it yet.")).toHaveLength(3);
    const look = screen.getByRole("region", { name: "Latest look table" });
    expect(within(look).getByRole("row", { name: /^Error rate/ }).textContent).toContain("0.04 [0.02, 0.08]");
    // A completed rollout takes no command.
    expect(screen.queryByRole("button", { name: /the rollout$/ })).toBeNull();
    expect(await seriousViolations()).toEqual([]);
  });

  it("shows what the shadow phase compared, and nothing of it when there was none", async () => {
    const shadowed = {
      ...rollout("running"),
      shadow: {
        observations: 14,
        candidate_failures: 1,
        stable_failures: 0,
        mean_similarity: 0.8125,
        candidate_citation_support: null,
        stable_citation_support: 1,
      },
    };
    serve({ [ONE]: shadowed }, { me: OPERATOR });
    open(`/ops/rollouts/${ROLLOUT_ID}`);
    expect(await screen.findByRole("heading", { name: "Shadow runs" })).toBeTruthy();
    const main = screen.getByRole("main");
    for (const text of ["14", "1 / 0", "81.3%", "not measured", "100.0%"]) expect(main.textContent).toContain(text);
    expect(await seriousViolations()).toEqual([]);
  });

  it("pauses only after confirming, for a platform admin, and shows what the orchestrator answered", async () => {
    serve({ [ONE]: rollout("running"), [`POST ${ONE}/pause`]: rollout("paused") }, { me: ADMIN });
    open(`/ops/rollouts/${ROLLOUT_ID}`);
    fireEvent.click(await screen.findByRole("button", { name: "Pause the rollout" }));
    expect(mutations()).toEqual([]);
    const asked = screen.getByRole("group", { name: /^Pause this rollout\?/ });
    fireEvent.click(within(asked).getByRole("button", { name: "Pause" }));
    expect(await screen.findByText(`Rollout ${ROLLOUT_ID.slice(0, 8)}: paused.`)).toBeTruthy();
    expect(mutations()).toEqual([{ method: "POST", path: `${ONE}/pause`, body: { note: "" } }]);
    expect(screen.getByRole("button", { name: "Abort the rollout" })).toBeTruthy();
  });

  it("says why the orchestrator refused a command", async () => {
    serve({ [ONE]: rollout("paused"), [`POST ${ONE}/resume`]: { status: 409, body: { detail: "already resumed" } } }, { me: ADMIN });
    open(`/ops/rollouts/${ROLLOUT_ID}`);
    fireEvent.click(await screen.findByRole("button", { name: "Resume the rollout" }));
    fireEvent.click(screen.getByRole("button", { name: "Resume" }));
    expect(await screen.findByText(/could not resume: .*already resumed/)).toBeTruthy();
  });

  it("shows an operator the rollout without pause, resume or abort", async () => {
    serve({ [ONE]: rollout("running") }, { me: OPERATOR });
    open(`/ops/rollouts/${ROLLOUT_ID}`);
    expect(await screen.findByRole("region", { name: "Decisions table" })).toBeTruthy();
    expect(screen.queryByRole("button", { name: /the rollout$/ })).toBeNull();
  });
});
