/* /ops/events/:seq: one event of the event stream, by its sequence. */

import { Link, useParams } from "react-router";

import { Facts } from "../../components/ui/form";
import { EnvelopeView } from "../../features/ops/components/EnvelopeView";
import { NotOperator, OpsPage, Reading, useOpsRead } from "../../features/ops/components/OpsPage";
import { opsAccess, instant } from "../../features/ops/logic";
import type { OpsEvent } from "../../features/ops/types";
import { useSession } from "../../session";

export function OpsEventPage() {
  const { seq = "" } = useParams();
  const { me } = useSession();
  const valid = /^[1-9][0-9]{0,15}$/.test(seq);
  const read = useOpsRead<OpsEvent>(valid ? `/v1/ops/events/${seq}` : null);
  if (read.forbidden) return <NotOperator />;
  const event = read.data;
  const n = Number(seq);
  return (
    <OpsPage title={`Event #${seq}`}>
      {valid ? <Reading what="The event" read={read} /> : <p role="alert">An event is named by its sequence, a whole number.</p>}
      {event ? (
        <>
          <Facts
            facts={[
              ["Stream", event.stream],
              ["Stream sequence", `#${event.seq.toLocaleString()}`],
              ["Subject", <code key="subject">{event.subject}</code>],
              ["Stored", instant(event.stored_at)],
            ]}
          />
          <EnvelopeView envelope={event} payloads={opsAccess(me).payloads} />
        </>
      ) : null}
      {valid ? (
        <nav aria-label="Neighbouring events" className="pager">
          {n > 1 ? <Link to={`/ops/events/${n - 1}`}>Event #{n - 1}</Link> : null}
          <Link to={`/ops/events/${n + 1}`}>Event #{n + 1}</Link>
          <Link to="/ops/events">All events</Link>
        </nav>
      ) : null}
    </OpsPage>
  );
}
