import { cleanup, fireEvent, screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";

import { cleanUpEachTest, HOSTILE, opsPerson } from "./testing/ops-people";
import { mutations, open, sent, serve, seriousViolations } from "./testing/test-utils";

cleanUpEachTest();

const person = (permissions: string[]) => opsPerson(["runs:create", ...permissions]);
const OWNER = person([]);
const OPERATOR = person(["ops:read"]);
const ADMIN = person(["ops:read", "ops:payload", "ops:redrive"]);

function envelope(payload: unknown) {
  return {
    event_id: "ev-1",
    type: "policy.activated",
    schema_version: 1,
    occurred_at: "2026-12-07T01:00:00Z",
    tenant_id: "platform",
    run_id: "run-1",
    causation_id: null,
    actor_user_id: null,
    actor_agent: null,
    size: 120,
    payload_size: 40,
    headers: { "Nats-Msg-Id": "ev-1", "Quarry-Note": HOSTILE },
    malformed: false,
    payload,
  };
}

function letter(seq: number, state = "open") {
  return {
    seq,
    service: "probe",
    reason: `cannot apply policy version v${seq}: no such version here`,
    subject: "policy.v1.activated",
    original_seq: 40 + seq,
    dead_at: "2026-12-07T01:00:00Z",
    state,
    handled_by: null,
    handled_at: null,
    redrives: 0,
    event: envelope(null),
  };
}

describe("who reaches the console", () => {
  it("shows Operations in the navigation to a platform operator only", async () => {
    serve({}, { me: OWNER });
    open("/research");
    expect(await screen.findByRole("link", { name: "Research" })).toBeTruthy();
    expect(screen.queryByRole("link", { name: "Operations" })).toBeNull();
    cleanup();
    serve({ "/v1/ops/streams": { streams: [] } }, { me: OPERATOR });
    open("/research");
    expect(await screen.findByRole("link", { name: "Operations" })).toBeTruthy();
  });

  it("tells a tenant owner they are no operator, without asking the ops routes", async () => {
    serve({}, { me: OWNER });
    open("/ops/deadletters");
    expect(await screen.findByRole("heading", { name: "Not an operator", level: 1 })).toBeTruthy();
    expect(sent.filter((s) => s.path.startsWith("/v1/ops"))).toEqual([]);
    expect(await seriousViolations()).toEqual([]);
  });

  it("shows the same page when the gateway refuses a role revoked since the session began", async () => {
    serve({ "/v1/ops/streams": { status: 403, body: { detail: "missing permission ops:read" } } }, { me: OPERATOR });
    open("/ops/streams");
    expect(await screen.findByRole("heading", { name: "Not an operator", level: 1 })).toBeTruthy();
  });
});

describe("the overview", () => {
  it("links every part and says at a glance what is behind and what is open", async () => {
    const consumer = (name: string, lag: number | null) => ({ stream: "QUARRY", name, lag_s: lag });
    serve(
      {
        "/v1/ops/consumers": { consumers: [consumer("a", 0), consumer("b", 12.5), consumer("c", null)], read_at: "2026-12-07T01:00:00Z" },
        "/v1/ops/deadletters": { letters: [letter(2), letter(1)], next_before: null, scanned: 2 },
      },
      { me: OPERATOR },
    );
    const router = open("/ops");
    expect(await screen.findByText("Now: 1 of 3 behind.")).toBeTruthy();
    expect(await screen.findByText("Now: 2 open.")).toBeTruthy();
    const parts = screen.getAllByRole("heading", { level: 2 }).map((h) => h.textContent);
    expect(parts).toEqual(["Streams", "Consumers", "Services", "Events", "Dead letters", "A run across services"]);
    fireEvent.change(screen.getByLabelText("Run id"), { target: { value: " run/1 " } });
    fireEvent.click(screen.getByRole("button", { name: "Show its events" }));
    await waitFor(() => {
      expect(router.state.location.pathname).toBe("/ops/runs/run%2F1");
    });
    expect(await seriousViolations()).toEqual([]);
  });
});

describe("dead letters", () => {
  it("shows an operator each letter's reason and no button that changes anything", async () => {
    serve({ "/v1/ops/deadletters": { letters: [letter(5)], next_before: null, scanned: 1 } }, { me: OPERATOR });
    open("/ops/deadletters");
    const table = await screen.findByRole("region", { name: "Dead letters table" });
    expect(within(table).getByText("cannot apply policy version v5: no such version here")).toBeTruthy();
    expect(screen.queryByRole("button", { name: /redrive|discard/i })).toBeNull();
    expect(screen.queryByRole("heading", { name: "Every open letter matching the filter" })).toBeNull();
    expect(await seriousViolations()).toEqual([]);
  });

  it("lets an admin redrive one letter only after confirming, then reads the list again", async () => {
    let redriven = false;
    serve(
      {
        "/v1/ops/deadletters": () => ({ letters: redriven ? [] : [letter(5)], next_before: null, scanned: 1 }),
        "POST /v1/ops/deadletters/5/redrive": () => {
          redriven = true;
          return { seq: 5, subject: "policy.v1.activated", stored: true };
        },
      },
      { me: ADMIN },
    );
    open("/ops/deadletters");
    fireEvent.click(await screen.findByRole("button", { name: "Redrive dead letter 5" }));
    expect(mutations()).toEqual([]);
    const asked = screen.getByRole("group", { name: "Publish dead letter 5 to policy.v1.activated again?" });
    fireEvent.click(within(asked).getByRole("button", { name: "Redrive" }));
    expect(await screen.findByText("Dead letter 5 redriven to policy.v1.activated.")).toBeTruthy();
    await waitFor(() => {
      expect(screen.queryByRole("region", { name: "Dead letters table" })).toBeNull();
    });
    expect(mutations()).toEqual([{ method: "POST", path: "/v1/ops/deadletters/5/redrive", body: {} }]);
  });

  it("offers a bulk action only under a filter, and sends that filter", async () => {
    serve(
      {
        "/v1/ops/deadletters": { letters: [letter(5), letter(4)], next_before: null, scanned: 2 },
        "POST /v1/ops/deadletters/discard": { discarded: [{ seq: 4, state: "discarded" }, { seq: 5, state: "discarded" }] },
      },
      { me: ADMIN },
    );
    open("/ops/deadletters");
    expect(await screen.findByText(/a bulk action never takes every letter/)).toBeTruthy();
    expect(screen.queryByRole("button", { name: /^Discard all matching/ })).toBeNull();
    cleanup();
    open("/ops/deadletters?service=probe&reason=no%20such");
    fireEvent.click(await screen.findByRole("button", { name: /^Discard all matching/ }));
    fireEvent.click(screen.getByRole("button", { name: "Discard all" }));
    expect(await screen.findByText("Discarded 2 dead letters (service probe, reason containing “no such”).")).toBeTruthy();
    expect(mutations()).toEqual([{ method: "POST", path: "/v1/ops/deadletters/discard", body: { service: "probe", reason: "no such" } }]);
  });
});

describe("an event's detail", () => {
  const event = (payload: unknown) => ({ ...envelope(payload), stream: "QUARRY", seq: 42, subject: "policy.v1.activated", stored_at: "2026-12-07T01:00:01Z" });

  it("renders a hostile payload and headers as text, never as markup", async () => {
    serve({ "/v1/ops/events/42": event({ note: HOSTILE, items: [1, 2] }) }, { me: ADMIN });
    open("/ops/events/42");
    const payload = await screen.findByRole("region", { name: "Payload" });
    expect(payload.textContent).toContain(HOSTILE);
    expect(document.querySelector("main img")).toBeNull();
    expect(within(screen.getByRole("region", { name: "Headers table" })).getByText(HOSTILE)).toBeTruthy();
    expect(screen.getByText("#42")).toBeTruthy();
    expect(await seriousViolations()).toEqual([]);
  });

  it("cuts a huge payload and says how much is left out", async () => {
    serve({ "/v1/ops/events/42": event("y".repeat(25_000)) }, { me: ADMIN });
    open("/ops/events/42");
    const payload = await screen.findByRole("region", { name: "Payload" });
    expect(payload.textContent).toHaveLength(20_000);
    expect(screen.getByText("Cut: 5,000 more characters not shown.")).toBeTruthy();
  });

  it("tells a platform operator payloads are the admins'", async () => {
    serve({ "/v1/ops/events/42": event(null) }, { me: OPERATOR });
    open("/ops/events/42");
    expect(await screen.findByText("Payloads are tenant data, shown to platform admins only.")).toBeTruthy();
    expect(screen.queryByRole("region", { name: "Payload" })).toBeNull();
  });
});

describe("a run across services", () => {
  it("lists its events in stored order with the gap before each", async () => {
    const row = (seq: number | null, type: string, gap: number | null) => ({
      ...envelope(null),
      event_id: `ev-${type}`,
      type,
      stream: seq === null ? null : "QUARRY",
      seq,
      subject: `${type.split(".")[0] ?? ""}.v1.${type.split(".")[1] ?? ""}`,
      stored_at: "2026-12-07T01:00:00Z",
      in_stream: seq !== null,
      gap_s: gap,
    });
    serve(
      {
        "/v1/ops/runs/run-1/events": {
          run_id: "run-1",
          events: [row(null, "run.requested", null), row(11, "credits.reserved", 0.2), row(12, "tool.decided", 95)],
          domains: ["run", "credits", "tool"],
        },
      },
      { me: OPERATOR },
    );
    open("/ops/runs/run-1");
    const table = await screen.findByRole("region", { name: "Run events table" });
    const rows = within(table).getAllByRole("row").slice(1);
    expect(rows.map((r) => within(r).getAllByRole("cell")[1]?.textContent)).toEqual(["run.requested", "credits.reserved", "tool.decided"]);
    expect(rows.map((r) => within(r).getAllByRole("cell")[0]?.textContent)).toEqual(["first", "+200 ms", "+1 min 35 s"]);
    expect(within(rows[0] as HTMLElement).getByText("no longer in the stream")).toBeTruthy();
    expect(within(rows[2] as HTMLElement).getByRole("link", { name: "Event 12" }).getAttribute("href")).toBe("/ops/events/12");
    expect(screen.getByText(/3 events over 1 min 35 s, through run, credits, tool/)).toBeTruthy();
  });
});

describe("the event browser", () => {
  const stored = (seq: number) => ({ ...envelope(null), event_id: `ev-${seq}`, stream: "QUARRY", seq, subject: "run.v1.step_changed", stored_at: "2026-12-07T01:00:00Z" });

  /** An EventSource the test feeds: the page's live tail, connected to nothing but this test. */
  class FedSource {
    static opened: FedSource[] = [];
    readonly url: string;
    readyState = 0;
    onopen: (() => void) | null = null;
    onerror: (() => void) | null = null;
    listeners = new Map<string, (ev: MessageEvent<string>) => void>();
    constructor(url: string) {
      this.url = url;
      FedSource.opened.push(this);
    }
    addEventListener(type: string, listener: (ev: MessageEvent<string>) => void) {
      this.listeners.set(type, listener);
    }
    close() {
      this.readyState = 2;
    }
    send(type: string, data: unknown) {
      this.listeners.get(type)?.(new MessageEvent(type, { data: JSON.stringify(data) }));
    }
  }

  it("pages older by sequence, and the live tail puts new events on top from after the newest", async () => {
    serve(
      {
        // The second read of the list is the older page (the stub sees paths, not queries).
        "/v1/ops/events": () => {
          const older = sent.filter((s) => s.path === "/v1/ops/events").length > 1;
          return older
            ? { events: [stored(8)], next_before: null, scanned: 3, last_seq: 10 }
            : { events: [stored(10), stored(9)], next_before: 9, scanned: 2, last_seq: 10 };
        },
      },
      { me: OPERATOR },
    );
    FedSource.opened = [];
    vi.stubGlobal("EventSource", FedSource);
    open("/ops/events?subject=run.%3E");
    const table = await screen.findByRole("region", { name: "Events table" });
    expect(within(table).getAllByRole("link", { name: /^Event \d+$/ }).map((a) => a.textContent)).toEqual(["#10", "#9"]);
    expect(screen.getByLabelText<HTMLInputElement>("Subject").value).toBe("run.>");
    fireEvent.click(screen.getByRole("button", { name: "Older events" }));
    await waitFor(() => {
      expect(within(table).getAllByRole("link", { name: /^Event \d+$/ }).map((a) => a.textContent)).toEqual(["#10", "#9", "#8"]);
    });
    expect(screen.getByText("No older events match.")).toBeTruthy();

    fireEvent.click(screen.getByLabelText("Live tail"));
    await waitFor(() => {
      expect(FedSource.opened).toHaveLength(1);
    });
    const source = FedSource.opened[0] as FedSource;
    expect(source.url).toBe("/v1/ops/events/tail?subject=run.%3E&after=10");
    source.onopen?.();
    expect(await screen.findByText("Live: new events appear on top.")).toBeTruthy();
    source.send("event", stored(11));
    source.send("event", stored(11));
    await waitFor(() => {
      expect(within(table).getAllByRole("link", { name: /^Event \d+$/ }).map((a) => a.textContent)).toEqual(["#11", "#10", "#9", "#8"]);
    });
    fireEvent.click(screen.getByLabelText("Live tail"));
    expect(source.readyState).toBe(2);
  });
});
