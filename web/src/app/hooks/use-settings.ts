/* A settings panel: its resource read once (handed to `show`), one save at a time (`run`, with
 * `busy` and `error` from useAction), and the polite line a save ends with (`saved`). */
import { useCallback, useEffect, useEffectEvent, useState } from "react";

import { get } from "../api";
import { errorText } from "../format";
import { useAction } from "./use-action";

// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- T names the resource read for the caller
export function useSettings<T>(path: string, show: (value: T) => void) {
  const action = useAction();
  const { setError } = action;
  const [saved, setSaved] = useState("");
  const onLoad = useEffectEvent(show);

  useEffect(() => {
    get<T>(path).then(
      (value) => {
        onLoad(value);
      },
      (exc: unknown) => {
        setError(errorText(exc));
      },
    );
  }, [path, setError]);

  /** Clears the last refusal and the saved line, before another attempt. */
  const begin = useCallback(() => {
    setError("");
    setSaved("");
  }, [setError]);

  return { ...action, saved, setSaved, begin };
}
