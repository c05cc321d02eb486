/* A run's Server-Sent Events: every event once, in log order, and what the connection is doing.
 * EventSource resumes with Last-Event-ID by itself; the log still keys events by their `id:` so
 * an event replayed after a reconnect (or by a second stream) is never shown twice. */

import { useEffect, useReducer, useRef } from "react";

export interface RunEvent {
  seq: number;
  type: string;
  data: Record<string, unknown>;
}

export type Connection = "connecting" | "live" | "reconnecting" | "reconnected" | "ended" | "closed";

export interface EventLog {
  events: RunEvent[];
  seen: ReadonlySet<number>;
  lastSeq: number;
  connection: Connection;
  /** A connection was lost at least once: the UI says "Reconnected" rather than "Live". */
  dropped: boolean;
}

export type LogAction =
  | { kind: "event"; event: RunEvent }
  | { kind: "open" }
  | { kind: "error"; retrying: boolean }
  | { kind: "end" }
  | { kind: "reset" };

export const emptyLog: EventLog = { events: [], seen: new Set(), lastSeq: 0, connection: "connecting", dropped: false };

export function logReducer(log: EventLog, action: LogAction): EventLog {
  switch (action.kind) {
    case "event": {
      const { event } = action;
      if (log.seen.has(event.seq)) return log;
      const seen = new Set(log.seen);
      seen.add(event.seq);
      // Arrival is nearly always in order; an out-of-order one is put in its place.
      const events =
        event.seq > log.lastSeq
          ? [...log.events, event]
          : [...log.events, event].sort((a, b) => a.seq - b.seq);
      return { ...log, events, seen, lastSeq: Math.max(log.lastSeq, event.seq) };
    }
    case "open":
      return { ...log, connection: log.dropped ? "reconnected" : "live" };
    case "error":
      if (log.connection === "ended") return log;
      return action.retrying
        ? { ...log, connection: "reconnecting", dropped: true }
        : { ...log, connection: "closed", dropped: true };
    case "end":
      return { ...log, connection: "ended" };
    case "reset":
      return emptyLog;
  }
}

/** The event kinds the run stream names (`event:` lines). EventSource delivers a named event only
 * to a listener for that name, so every kind the log may carry is listed. */
export const RUN_EVENT_TYPES = [
  "run.requested",
  "run.admitted",
  "run.planned",
  "run.step_changed",
  "run.waiting_approval",
  "run.resumed",
  "run.completed",
  "run.failed",
  "run.rejected",
  "run.cancel_requested",
  "run.cancelled",
  "run.expired",
  "run.awaiting_plan_review",
  "run.plan_reviewed",
  "run.plan_revised",
  "approval.given",
  "approval.rejected",
  "credits.reserved",
  "credits.denied",
  "credits.settled",
  "credits.refunded",
  "task.dispatched",
  "task.succeeded",
  "task.failed",
  "tool.requested",
  "tool.decided",
  "usage.recorded",
  "guardrail.tripped",
  "report.published",
  "timer.fired",
  "message",
] as const;

export function parseEvent(type: string, lastEventId: string, data: string): RunEvent | null {
  if (!/^\d{1,18}$/.test(lastEventId)) return null;
  let parsed: unknown;
  try {
    parsed = JSON.parse(data);
  } catch {
    return null;
  }
  if (typeof parsed !== "object" || parsed === null) return null;
  const envelope = parsed as Record<string, unknown>;
  const kind = typeof envelope.type === "string" ? envelope.type : type;
  return { seq: Number(lastEventId), type: kind, data: envelope };
}

export interface StreamSource {
  readyState: number;
  onopen: ((ev: Event) => unknown) | null;
  onerror: ((ev: Event) => unknown) | null;
  addEventListener(type: string, listener: (ev: MessageEvent<string>) => void): void;
  close(): void;
}

export type SourceFactory = (url: string) => StreamSource;

const defaultFactory: SourceFactory = (url) => new EventSource(url, { withCredentials: true });

const MAX_RETRIES = 30;
const MAX_BACKOFF_MS = 10_000;

/** The stream's URL resuming after `seq` (for a new EventSource, which has no Last-Event-ID). */
export function resumeUrl(url: string, seq: number): string {
  if (seq <= 0) return url;
  return `${url}${url.includes("?") ? "&" : "?"}after=${seq}`;
}

/** Subscribe to a run's event stream; `onEvent` is called once per new event (after de-duplication).
 * The browser retries a dropped stream itself with Last-Event-ID; when it gives up (an error
 * status, a proxy's page) a new stream is opened after a backoff, resuming with `?after=`. */
export function useRunEvents(
  url: string | null,
  onEvent?: (event: RunEvent) => void,
  factory: SourceFactory = defaultFactory,
): EventLog {
  const [log, dispatch] = useReducer(logReducer, emptyLog);
  const seen = useRef(new Set<number>());
  const lastSeq = useRef(0);
  const callback = useRef(onEvent);
  useEffect(() => {
    callback.current = onEvent;
  });

  useEffect(() => {
    dispatch({ kind: "reset" });
    seen.current = new Set();
    lastSeq.current = 0;
    if (url === null) return;
    let source: StreamSource | null = null;
    let retry: ReturnType<typeof setTimeout> | undefined;
    let failures = 0;
    let stopped = false;

    const deliver = (type: string) => (ev: MessageEvent<string>) => {
      const event = parseEvent(type, ev.lastEventId, ev.data);
      if (event === null || seen.current.has(event.seq)) return;
      seen.current.add(event.seq);
      lastSeq.current = Math.max(lastSeq.current, event.seq);
      dispatch({ kind: "event", event });
      callback.current?.(event);
    };

    const connect = () => {
      const current = factory(resumeUrl(url, lastSeq.current));
      source = current;
      current.onopen = () => {
        failures = 0;
        dispatch({ kind: "open" });
      };
      current.onerror = () => {
        if (stopped) return;
        // CONNECTING (0): the browser is retrying with Last-Event-ID by itself.
        if (current.readyState === 0) {
          dispatch({ kind: "error", retrying: true });
          return;
        }
        current.close();
        failures += 1;
        if (failures > MAX_RETRIES) {
          dispatch({ kind: "error", retrying: false });
          return;
        }
        dispatch({ kind: "error", retrying: true });
        retry = setTimeout(connect, Math.min(MAX_BACKOFF_MS, 500 * 2 ** (failures - 1)));
      };
      for (const type of RUN_EVENT_TYPES) current.addEventListener(type, deliver(type));
      current.addEventListener("end", () => {
        // The server closes after `end`; without close() EventSource would reconnect forever.
        stopped = true;
        current.close();
        dispatch({ kind: "end" });
      });
    };

    // A network that drops can leave the stream's connection open and silent, with nothing for
    // EventSource to notice: when the browser says it is offline the stream is closed at once,
    // and reopened after the last event seen when it is back online.
    const goneOffline = () => {
      if (stopped) return;
      clearTimeout(retry);
      source?.close();
      dispatch({ kind: "error", retrying: true });
    };
    const backOnline = () => {
      if (stopped || (source !== null && source.readyState !== 2)) return;
      clearTimeout(retry);
      failures = 0;
      connect();
    };
    window.addEventListener("offline", goneOffline);
    window.addEventListener("online", backOnline);

    connect();
    return () => {
      stopped = true;
      clearTimeout(retry);
      source?.close();
      window.removeEventListener("offline", goneOffline);
      window.removeEventListener("online", backOnline);
    };
  }, [url, factory]);

  return log;
}

export function connectionText(connection: Connection): string {
  switch (connection) {
    case "connecting":
      return "Connecting…";
    case "live":
      return "Live";
    case "reconnecting":
      return "Reconnecting…";
    case "reconnected":
      return "Reconnected";
    case "ended":
      return "Stream ended: the run is over";
    case "closed":
      return "Disconnected: reload the page to follow the run";
  }
}
