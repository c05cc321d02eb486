/* Reading something again on a timer only while it can still change by itself (a running
 * replay): a finished one is not asked again. */
import { useEffect } from "react";

export function usePollWhile(polling: boolean, poll: () => Promise<unknown>, everyMs: number) {
  useEffect(() => {
    if (!polling) return;
    const timer = window.setInterval(() => void poll(), everyMs);
    return () => {
      window.clearInterval(timer);
    };
  }, [polling, poll, everyMs]);
}
