/* Pause, resume and abort, for platform admins only (`rollouts:manage`): each asks first
 * (ConfirmButton), and says what it did, or why the orchestrator refused, in a status line. */

import { post } from "../../api";
import type { Rollout } from "../../features/ops/rollout-types";
import { commandsFor, statusText } from "../../features/ops/rollouts";
import { errorText } from "../../format";
import { ConfirmButton } from "../manage/shared";

const ASKED = {
  pause: "Pause this rollout? The split stays as it is and no promotion is made until it is resumed; harm still rolls it back.",
  resume: "Resume this rollout? Its timer looks at the guards again and may promote or roll back.",
  abort: "Abort this rollout? Every tenant goes back to the stable version, for good.",
} as const;
const TEXT = { pause: "Pause", resume: "Resume", abort: "Abort" } as const;

export function RolloutButtons({ rollout, onDone }: { rollout: Rollout; onDone: (said: string) => Promise<void> }) {
  async function act(action: "pause" | "resume" | "abort") {
    try {
      const done = await post<Rollout>(`/v1/ops/rollouts/${rollout.rollout_id}/${action}`, { note: "" });
      await onDone(`Rollout ${rollout.rollout_id.slice(0, 8)}: ${statusText(done.status)}.`);
    } catch (exc) {
      await onDone(`Rollout ${rollout.rollout_id.slice(0, 8)} could not ${action}: ${errorText(exc)}`);
    }
  }
  const commands = commandsFor(rollout.status);
  if (!commands.length) return null;
  return (
    <div className="buttons">
      {commands.map((action) => (
        <ConfirmButton
          key={action}
          text={TEXT[action]}
          label={`${TEXT[action]} the rollout`}
          question={ASKED[action]}
          confirmLabel={TEXT[action]}
          onConfirm={() => act(action)}
        />
      ))}
    </div>
  );
}
