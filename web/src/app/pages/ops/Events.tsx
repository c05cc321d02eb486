/* /ops/events: the event stream newest first, filtered (the filters are in the address), paged
 * by sequence, and, with the live tail on, new events put on top as JetStream stores them. */

import { useCallback, useEffect, useEffectEvent, useMemo, useState } from "react";
import { useSearchParams } from "react-router";

import { ApiError, get } from "../../api";
import { Check } from "../../components/ui/form";
import { NotOperator, OpsPage } from "../../features/ops/components/OpsPage";
import {
  eventQuery,
  type EventFilters,
  FILTER_NAMES,
  filterProblem,
  filtersFrom,
  mergeNewestFirst,
} from "../../features/ops/logic";
import type { EventPage, OpsEvent } from "../../features/ops/types";
import { errorText } from "../../format";
import { EventFilterForm } from "./EventFilterForm";
import { EventsTable } from "./EventsTable";

const PAGE = 50;
const MAX_SHOWN = 1000; // the tail keeps the newest; older ones are a page away again

type Tail = "off" | "connecting" | "live" | "reconnecting" | "closed";
const TAIL_TEXT: Record<Tail, string> = {
  off: "",
  connecting: "Connecting to the live tail…",
  live: "Live: new events appear on top.",
  reconnecting: "The live tail lost its connection; reconnecting…",
  closed: "The live tail was closed by the server; turn it off and on to try again.",
};

export function OpsEventsPage() {
  const [params, setParams] = useSearchParams();
  const key = params.toString();
  const filters = useMemo(() => filtersFrom(new URLSearchParams(key)), [key]);
  const problem = filterProblem(filters);
  // The page read for one set of filters (`key`): under other filters it is not shown, so a
  // list never stands under filters it was not read for while their own read is on its way.
  const [loaded, setLoaded] = useState<{ key: string; page: EventPage } | null>(null);
  const page = loaded?.key === key ? loaded.page : null;
  const [error, setError] = useState("");
  const [forbidden, setForbidden] = useState(false);
  const [busy, setBusy] = useState(false);
  const [live, setLive] = useState(false);
  const [tail, setTail] = useState<Tail>("off");

  const refused = useCallback((exc: unknown) => {
    if (exc instanceof DOMException && exc.name === "AbortError") return;
    if (exc instanceof ApiError && exc.status === 403) setForbidden(true);
    setError(errorText(exc));
  }, []);

  useEffect(() => {
    if (problem) return;
    const controller = new AbortController();
    get<EventPage>(`/v1/ops/events?${eventQuery(filters).toString()}&limit=${PAGE}`, controller.signal).then(
      (found) => {
        setLoaded({ key, page: found });
        setError("");
      },
      refused,
    );
    return () => {
      controller.abort();
    };
  }, [filters, key, problem, refused]);

  const tailStart = useEffectEvent(() => (page ? Math.max(page.last_seq, page.events[0]?.seq ?? 0) : null));

  useEffect(() => {
    if (!live || problem) return;
    const query = eventQuery(filters);
    const after = tailStart();
    if (after !== null) query.set("after", String(after));
    const source = new EventSource(`/v1/ops/events/tail?${query.toString()}`, { withCredentials: true });
    source.onopen = () => {
      setTail("live");
    };
    source.onerror = () => {
      setTail(source.readyState === EventSource.CLOSED ? "closed" : "reconnecting");
    };
    source.addEventListener("event", (message: MessageEvent<string>) => {
      let arrived: OpsEvent;
      try {
        arrived = JSON.parse(message.data) as OpsEvent;
      } catch {
        return;
      }
      setLoaded((shown) => {
        if (shown?.key !== key) return shown;
        const events = mergeNewestFirst(shown.page.events, [arrived], MAX_SHOWN);
        return { key, page: { ...shown.page, events, last_seq: Math.max(shown.page.last_seq, arrived.seq) } };
      });
    });
    return () => {
      source.close();
      setTail("off");
    };
  }, [live, filters, key, problem]);

  function apply(next: EventFilters) {
    const query = new URLSearchParams();
    for (const name of FILTER_NAMES) {
      const value = next[name].trim();
      if (value) query.set(name, value);
    }
    setParams(query);
  }

  async function older() {
    if (!page?.next_before) return;
    setBusy(true);
    try {
      const query = eventQuery(filters);
      query.set("before", String(page.next_before));
      query.set("limit", String(PAGE));
      const found = await get<EventPage>(`/v1/ops/events?${query.toString()}`);
      setLoaded({ key, page: { ...found, events: [...page.events, ...found.events], last_seq: page.last_seq } });
    } catch (exc) {
      refused(exc);
    } finally {
      setBusy(false);
    }
  }

  if (forbidden) return <NotOperator />;
  return (
    <OpsPage title="Events">
      <EventFilterForm key={key} applied={filters} onApply={apply} />
      {problem ? <p role="alert">{problem}</p> : null}
      <Check id="ops-live-tail" label="Live tail" checked={live} onChange={setLive} />
      <p role="status" className="connection">
        {live ? TAIL_TEXT[tail === "off" ? "connecting" : tail] : ""}
      </p>
      {error ? <p role="alert">{`The events could not be read: ${error}`}</p> : null}
      {!page && !error && !problem ? <p role="status">Loading…</p> : null}
      {page ? (
        <>
          <p className="muted">
            {page.events.length.toLocaleString()} event{page.events.length === 1 ? "" : "s"} shown; the stream&apos;s
            newest is #{page.last_seq.toLocaleString()}.
          </p>
          {page.events.length ? <EventsTable events={page.events} /> : <p>No event matches these filters.</p>}
          {page.next_before ? (
            <button type="button" disabled={busy} onClick={() => void older()}>
              Older events
            </button>
          ) : (
            <p className="muted">No older events match.</p>
          )}
        </>
      ) : null}
    </OpsPage>
  );
}
