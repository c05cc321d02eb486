/* /ops/deadletters/:seq: one dead letter: why, from where, what was done with it, the event. */

import { useState } from "react";
import { Link, useParams } from "react-router";

import { Facts } from "../../components/ui/form";
import { EnvelopeView } from "../../features/ops/components/EnvelopeView";
import { NotOperator, OpsPage, Reading, useOpsRead } from "../../features/ops/components/OpsPage";
import { opsAccess, instant } from "../../features/ops/logic";
import type { DeadLetter } from "../../features/ops/types";
import { useSession } from "../../session";
import { LetterButtons } from "./DeadLetterActions";

export function OpsDeadLetterPage() {
  const { seq = "" } = useParams();
  const { me } = useSession();
  const access = opsAccess(me);
  const valid = /^[1-9][0-9]{0,15}$/.test(seq);
  const read = useOpsRead<DeadLetter>(valid ? `/v1/ops/deadletters/${seq}` : null);
  const [said, setSaid] = useState("");
  if (read.forbidden) return <NotOperator />;
  const letter = read.data;
  return (
    <OpsPage title={`Dead letter #${seq}`} back={{ to: "/ops/deadletters", label: "All dead letters" }}>
      {valid ? <Reading what="The dead letter" read={read} /> : <p role="alert">A dead letter is named by its sequence, a whole number.</p>}
      <p role="status" aria-live="polite">
        {said}
      </p>
      {letter ? (
        <>
          <p className="reason">
            <strong>{letter.service}</strong> gave up: {letter.reason}
          </p>
          <Facts
            facts={[
              ["State", letter.state],
              ["Subject", <code key="subject">{letter.subject ?? "—"}</code>],
              [
                "Event stream seq",
                letter.original_seq ? <Link to={`/ops/events/${letter.original_seq}`}>#{letter.original_seq}</Link> : "—",
              ],
              ["Dead since", instant(letter.dead_at)],
              ["Redrives", letter.redrives],
              letter.handled_by ? ["Handled by", `${letter.handled_by}, ${instant(letter.handled_at)}`] : null,
            ]}
          />
          {access.change ? (
            <LetterButtons
              letter={letter}
              onDone={async (text) => {
                setSaid(text);
                await read.reload();
              }}
            />
          ) : null}
          <EnvelopeView envelope={letter.event} payloads={access.payloads} />
        </>
      ) : null}
    </OpsPage>
  );
}
