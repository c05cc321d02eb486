/* /ops/replays: replay the event log (platform admins, `ops:replay`): the gateway rebuilds its
 * read models from the stream into scratch tables and compares them with the live ones. The list
 * is read again every 2 s while a replay runs, so its progress and then its result show. */

import { useState } from "react";
import { Link } from "react-router";

import { ApiError, post } from "../../api";
import { NotOperator, OpsPage, Reading, useOpsRead } from "../../features/ops/components/OpsPage";
import { usePollWhile } from "../../features/ops/hooks/use-poll-while";
import { instant, shortId } from "../../features/ops/logic";
import { anyRunning, POLL_MS, progressText, resultText, stateText } from "../../features/ops/replays";
import type { Replay } from "../../features/ops/types";
import { errorText } from "../../format";
import { DataTable } from "../../../shared/table";
import { ConfirmButton } from "../manage/shared";

const WHAT = "Rebuild the read models from the event stream into scratch tables and compare them with the live ones?";

/** Mounted only for platform admins (`RequireOpsAdmin` in the routes). */
export function OpsReplaysPage() {
  const read = useOpsRead<{ replays: Replay[] }>("/v1/ops/replays");
  const replays = read.data?.replays ?? null;
  const [said, setSaid] = useState("");
  usePollWhile(replays !== null && anyRunning(replays), read.reload, POLL_MS);

  async function start() {
    try {
      const started = await post<Replay>("/v1/ops/replays");
      setSaid(`Replay ${shortId(started.replay_id)} started: reading the stream up to message ${started.last_seq.toLocaleString()}.`);
    } catch (exc) {
      setSaid(exc instanceof ApiError && exc.status === 409 ? "A replay is already running: wait for its report." : `The replay could not start: ${errorText(exc)}`);
    }
    await read.reload();
  }

  if (read.forbidden) return <NotOperator />;
  return (
    <OpsPage title="Replays">
      <p>
        A replay reads every event stored in the stream, rebuilds the gateway&apos;s read models (runs, documents,
        monitors) from them into scratch tables of its own, compares them with the live ones and drops the scratch
        tables. The live read models are not changed. One runs at a time.
      </p>
      <div className="buttons">
        <ConfirmButton text="Replay the event log" label="Replay the event log" question={WHAT} confirmLabel="Replay" onConfirm={start} />
      </div>
      <p role="status" aria-live="polite">
        {said}
      </p>
      <Reading what="The replays" read={read} />
      {replays && !replays.length ? <p>No replay yet.</p> : null}
      {replays?.length ? (
        <DataTable label="Replays table" caption="Replays, newest first" columns={["Replay", "State", "Asked by", "Started", "Progress", "Result"]}>
          {replays.map((replay) => (
            <tr key={replay.replay_id}>
              <th scope="row">
                {/* Named by what it shows: axe wants a link's visible text as its whole words. */}
                <Link to={`/ops/replays/${replay.replay_id}`} title={`Report of replay ${replay.replay_id}`}>
                  {replay.replay_id.slice(0, 8)}
                </Link>
              </th>
              <td>{stateText(replay.state)}</td>
              <td className="reason">{replay.requested_by}</td>
              <td>{instant(replay.started_at)}</td>
              <td>{progressText(replay)}</td>
              <td className="reason">{resultText(replay)}</td>
            </tr>
          ))}
        </DataTable>
      ) : null}
    </OpsPage>
  );
}
