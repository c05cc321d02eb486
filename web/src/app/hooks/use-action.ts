/* One user action against the gateway at a time: `busy` disables its buttons while it runs, and
 * a refusal lands in `error` (shown in the form's alert), or goes to `onError` where the caller
 * shows it its own way, instead of escaping the click handler. */
import { useCallback, useState } from "react";

import { errorText } from "../format";

export function useAction(onError?: (text: string) => void) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");

  const run = useCallback(async (work: () => Promise<unknown>) => {
    setBusy(true);
    setError("");
    try {
      await work();
    } catch (exc) {
      if (onError) onError(errorText(exc));
      else setError(errorText(exc));
    } finally {
      setBusy(false);
    }
  }, [onError]);

  return { busy, error, setError, run };
}
