/* One user action against the gateway at a time: `busy` disables its buttons while it runs, and
 * a refusal lands in `error` (shown in the form's alert) instead of escaping the click handler. */
import { useCallback, useState } from "react";

import { errorText } from "../format";

export function useAction() {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");

  const run = useCallback(async (work: () => Promise<unknown>) => {
    setBusy(true);
    setError("");
    try {
      await work();
    } catch (exc) {
      setError(errorText(exc));
    } finally {
      setBusy(false);
    }
  }, []);

  return { busy, error, setError, run };
}
