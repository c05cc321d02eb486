import { act, cleanup, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";

import {
  connectionText,
  emptyLog,
  logReducer,
  useRunEvents,
  type RunEvent,
  type SourceFactory,
  type StreamSource,
} from "./events";

// Vitest runs without globals here, so Testing Library cannot unmount between tests by itself.
afterEach(cleanup);

const ev = (seq: number, type = "run.step_changed"): RunEvent => ({ seq, type, data: { type } });

describe("the event log", () => {
  it("keeps each event id once, in log order", () => {
    let log = emptyLog;
    for (const seq of [1, 2, 3, 2, 3, 4, 1]) log = logReducer(log, { kind: "event", event: ev(seq) });
    expect(log.events.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    expect(log.lastSeq).toBe(4);
  });

  it("puts an event that overtook others in its place", () => {
    let log = emptyLog;
    for (const seq of [1, 3, 2]) log = logReducer(log, { kind: "event", event: ev(seq) });
    expect(log.events.map((e) => e.seq)).toEqual([1, 2, 3]);
  });

  it("says reconnecting after a drop and reconnected after it opens again", () => {
    let log = logReducer(emptyLog, { kind: "open" });
    expect(log.connection).toBe("live");
    log = logReducer(log, { kind: "error", retrying: true });
    expect(connectionText(log.connection)).toBe("Reconnecting…");
    log = logReducer(log, { kind: "open" });
    expect(connectionText(log.connection)).toBe("Reconnected");
    log = logReducer(log, { kind: "end" });
    log = logReducer(log, { kind: "error", retrying: true });
    expect(log.connection).toBe("ended");
  });
});

/** A stream source driven by the test, standing in for the browser's EventSource. */
class ScriptedSource implements StreamSource {
  readyState = 0;
  onopen: ((ev: Event) => unknown) | null = null;
  onerror: ((ev: Event) => unknown) | null = null;
  closed = false;
  private listeners = new Map<string, ((ev: MessageEvent<string>) => void)[]>();

  addEventListener(type: string, listener: (ev: MessageEvent<string>) => void): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }
  close(): void {
    this.closed = true;
    this.readyState = 2;
  }
  open(): void {
    this.readyState = 1;
    this.onopen?.(new Event("open"));
  }
  drop(): void {
    this.readyState = 0; // the browser retries, sending Last-Event-ID
    this.onerror?.(new Event("error"));
  }
  send(type: string, id: string, data: unknown): void {
    const message = new MessageEvent<string>(type, { data: JSON.stringify(data), lastEventId: id });
    for (const listener of this.listeners.get(type) ?? []) listener(message);
  }
  /** Opens and delivers the run's first two events, 1 and 2. */
  openWithTwoEvents(): void {
    this.open();
    this.send("run.requested", "1", { type: "run.requested" });
    this.send("run.admitted", "2", { type: "run.admitted" });
  }
}

function Probe({ factory }: { factory: SourceFactory }) {
  const log = useRunEvents("/v1/runs/r1/events", undefined, factory);
  return (
    <div>
      <p role="status">{connectionText(log.connection)}</p>
      <ul>
        {log.events.map((e) => (
          <li key={e.seq}>{`${e.seq} ${e.type}`}</li>
        ))}
      </ul>
    </div>
  );
}

/** The Probe on a factory that keeps every stream it opens: `stream(0)` is the first. */
function openProbe() {
  const opened: { url: string; source: ScriptedSource }[] = [];
  render(
    <Probe
      factory={(url) => {
        const source = new ScriptedSource();
        opened.push({ url, source });
        return source;
      }}
    />,
  );
  const stream = (i: number) => {
    const source = opened[i]?.source;
    if (!source) throw new Error(`stream ${i + 1} was not opened`);
    return source;
  };
  return { urls: () => opened.map((o) => o.url), stream };
}

const connection = () => screen.getByRole("status").textContent;
const listed = () => screen.getAllByRole("listitem").map((li) => li.textContent);
const EACH_ONCE = ["1 run.requested", "2 run.admitted", "3 run.planned"];

describe("useRunEvents", () => {
  it("shows a replayed event once and says when the stream reconnects", () => {
    const probe = openProbe();
    const source = probe.stream(0);
    expect(probe.urls()).toEqual(["/v1/runs/r1/events"]);
    act(() => {
      source.open();
      source.send("run.requested", "1", { type: "run.requested", payload: {} });
      source.send("run.admitted", "2", { type: "run.admitted", payload: {} });
    });
    expect(connection()).toBe("Live");
    act(() => {
      source.drop();
    });
    expect(connection()).toBe("Reconnecting…");
    act(() => {
      source.open();
      // A server that resumed one event early: event 2 again, then 3.
      source.send("run.admitted", "2", { type: "run.admitted", payload: {} });
      source.send("run.planned", "3", { type: "run.planned", payload: {} });
    });
    expect(connection()).toBe("Reconnected");
    expect(listed()).toEqual(EACH_ONCE);
  });

  it("opens a new stream after ?after= when the browser gives up, and keeps each event once", () => {
    vi.useFakeTimers();
    try {
      const probe = openProbe();
      const first = probe.stream(0);
      act(() => {
        first.openWithTwoEvents();
        first.readyState = 2; // an error status: EventSource stops retrying by itself
        first.onerror?.(new Event("error"));
      });
      expect(connection()).toBe("Reconnecting…");
      act(() => {
        vi.advanceTimersByTime(600);
      });
      expect(probe.urls()).toEqual(["/v1/runs/r1/events", "/v1/runs/r1/events?after=2"]);
      const second = probe.stream(1);
      act(() => {
        second.open();
        second.send("run.admitted", "2", { type: "run.admitted" });
        second.send("run.planned", "3", { type: "run.planned" });
      });
      expect(connection()).toBe("Reconnected");
      expect(listed()).toEqual(EACH_ONCE);
    } finally {
      vi.useRealTimers();
    }
  });

  it("drops a silent stream when the browser goes offline and resumes it after the last event online", () => {
    const probe = openProbe();
    const first = probe.stream(0);
    act(() => {
      first.openWithTwoEvents();
      window.dispatchEvent(new Event("offline"));
    });
    expect(first.closed).toBe(true);
    expect(connection()).toBe("Reconnecting…");
    act(() => {
      window.dispatchEvent(new Event("online"));
    });
    expect(probe.urls()).toEqual(["/v1/runs/r1/events", "/v1/runs/r1/events?after=2"]);
    const second = probe.stream(1);
    act(() => {
      second.open();
      second.send("run.planned", "3", { type: "run.planned" });
    });
    expect(connection()).toBe("Reconnected");
    expect(listed()).toEqual(EACH_ONCE);
  });

  it("closes the stream at `end` so the browser does not reconnect forever", () => {
    const source = openProbe().stream(0);
    act(() => {
      source.open();
      source.send("end", "", { state: "completed" });
    });
    expect(source.closed).toBe(true);
    expect(connection()).toBe("Stream ended: the run is over");
  });

  it("ignores an event without a numeric id", () => {
    const source = openProbe().stream(0);
    act(() => {
      source.open();
      source.send("run.requested", "", { type: "run.requested" });
      source.send("run.requested", "abc", { type: "run.requested" });
    });
    expect(screen.queryAllByRole("listitem")).toHaveLength(0);
  });
});
