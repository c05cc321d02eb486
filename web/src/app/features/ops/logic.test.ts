import { describe, expect, it } from "vitest";

import {
  boundedText,
  bulkFilter,
  bytes,
  describeFilter,
  duration,
  eventQuery,
  filterProblem,
  filtersFrom,
  lagText,
  letterFiltersFrom,
  letterQuery,
  limitsText,
  mergeNewestFirst,
  opsAccess,
  payloadFilter,
} from "./logic";
import type { OpsEvent } from "./types";

const me = (permissions: string[]) => ({ user_id: "u", tenant_id: "t", email: "e", role: "owner", permissions, key_id: null });

function event(seq: number): OpsEvent {
  return {
    stream: "QUARRY",
    seq,
    subject: "run.v1.step_changed",
    stored_at: "2026-12-07T01:00:00Z",
    event_id: `e${seq}`,
    type: "run.step_changed",
    schema_version: 1,
    occurred_at: null,
    tenant_id: "t",
    run_id: "r",
    causation_id: null,
    actor_user_id: null,
    actor_agent: null,
    size: 10,
    payload_size: 2,
    headers: {},
    malformed: false,
    payload: null,
  };
}

describe("who may do what in the console", () => {
  it("reads the platform permissions /me lists, and nothing from a tenant role", () => {
    const none = { read: false, change: false, payloads: false, replay: false, audit: false, rollouts: false };
    expect(opsAccess(null)).toEqual(none);
    expect(opsAccess(me(["runs:read", "members:write", "audit:read"]))).toEqual(none);
    expect(opsAccess(me(["ops:read"]))).toEqual({ ...none, read: true });
    expect(opsAccess(me(["ops:read", "ops:payload", "ops:redrive", "ops:replay", "ops:audit", "rollouts:manage"]))).toEqual({
      read: true,
      change: true,
      payloads: true,
      replay: true,
      audit: true,
      rollouts: true,
    });
  });
});

describe("bus figures", () => {
  it("counts bytes in binary multiples", () => {
    expect([bytes(0), bytes(1023), bytes(1536), bytes(5 * 1024 ** 3), bytes(null)]).toEqual(["0 B", "1023 B", "1.5 KB", "5.0 GB", "—"]);
  });

  it("says a duration at the two units that matter", () => {
    expect([duration(0), duration(0.25), duration(4.5), duration(42.4), duration(185), duration(3600), duration(7800), duration(97200)]).toEqual([
      "0 s",
      "250 ms",
      "4.5 s",
      "42 s",
      "3 min 5 s",
      "1 h",
      "2 h 10 min",
      "1 d 3 h",
    ]);
    expect(duration(null)).toBe("—");
  });

  it("tells a caught-up consumer from a lagging one and an unknown lag", () => {
    expect([lagText(0), lagText(95), lagText(null)]).toEqual(["caught up", "1 min 35 s behind", "unknown"]);
  });

  it("lists only the limits a stream sets", () => {
    const limits = { max_msgs: null, max_bytes: 1024 ** 3, max_age_s: 86400 * 7, max_msgs_per_subject: null, max_msg_size: null, discard: "old", retention: "limits", storage: "file" };
    expect(limitsText(limits)).toBe("at most 1.0 GB, 7 d old; limits retention, file storage, discards old when full");
    expect(limitsText({ ...limits, max_bytes: null, max_age_s: null })).toBe("no limit; limits retention, file storage, discards old when full");
  });
});

describe("the event browser's filters", () => {
  it("are read from the address and asked of the API, a payload field as payload.<path>", () => {
    const filters = filtersFrom(new URLSearchParams("subject=run.>&tenant=+t1+&payload=tool%3Dfetch_url&ignored=1"));
    expect(filters).toEqual({ subject: "run.>", tenant: "t1", run: "", type: "", since: "", until: "", payload: "tool=fetch_url" });
    expect(eventQuery(filters).toString()).toBe("subject=run.%3E&tenant=t1&payload.tool=fetch_url");
  });

  it("turn local times into instants the API compares", () => {
    const filters = filtersFrom(new URLSearchParams("since=2026-12-07T01:30"));
    expect(eventQuery(filters).get("since")).toBe(new Date("2026-12-07T01:30").toISOString());
  });

  it("refuse a payload filter that is no field=value, or a field path with odd characters", () => {
    expect(payloadFilter("usage.model = gpt")).toEqual(["payload.usage.model", "gpt"]);
    expect(payloadFilter("payload.tool=x")).toEqual(["payload.tool", "x"]);
    expect(payloadFilter("=x")).toBeNull();
    expect(payloadFilter("tool")).toBeNull();
    expect(payloadFilter("a&b=c")).toBeNull();
    expect(filterProblem(filtersFrom(new URLSearchParams("payload=tool")))).toMatch(/field and a value/);
    expect(filterProblem(filtersFrom(new URLSearchParams("until=yesterday")))).toBe("Until is no date and time.");
    expect(filterProblem(filtersFrom(new URLSearchParams("payload=tool%3Dx")))).toBe("");
  });
});

describe("the live tail", () => {
  it("puts arrivals on top, shows each sequence once, and keeps at most the newest", () => {
    const shown = [event(5), event(4), event(3)];
    expect(mergeNewestFirst(shown, [event(7), event(6), event(5)], 10).map((e) => e.seq)).toEqual([7, 6, 5, 4, 3]);
    expect(mergeNewestFirst(shown, [event(6)], 3).map((e) => e.seq)).toEqual([6, 5, 4]);
  });
});

describe("tenant payloads", () => {
  it("are indented JSON text, cut at the bound with the rest counted", () => {
    expect(boundedText({ a: 1 })).toEqual({ text: '{\n  "a": 1\n}', cut: 0 });
    expect(boundedText("<img src=x onerror=alert(1)>")).toEqual({ text: "<img src=x onerror=alert(1)>", cut: 0 });
    const long = boundedText("x".repeat(25), 10);
    expect(long).toEqual({ text: "x".repeat(10), cut: 15 });
    expect(boundedText(undefined)).toEqual({ text: "undefined", cut: 0 });
  });
});

describe("dead letter filters", () => {
  it("default to open letters and never make a bulk action without a filter", () => {
    const none = letterFiltersFrom(new URLSearchParams("state=bogus"));
    expect(none).toEqual({ service: "", subject: "", reason: "", state: "open" });
    expect(letterQuery(none).toString()).toBe("");
    expect(bulkFilter(none)).toBeNull();
    const some = letterFiltersFrom(new URLSearchParams("service=gateway&reason=malformed&state=all"));
    expect(letterQuery(some).toString()).toBe("service=gateway&reason=malformed&state=all");
    expect(bulkFilter(some)).toEqual({ service: "gateway", reason: "malformed" });
    expect(describeFilter({ service: "gateway", reason: "malformed" })).toBe("service gateway, reason containing “malformed”");
  });
});
