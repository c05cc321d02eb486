/* A read asked once what drives it rests (a run's log that grows, a slider being dragged) rather
 * than on every change: for an effect to return. The work starts after `delayMs`; the cleanup
 * cancels the wait, and aborts the request the work began (its `signal`). */
export function afterRest(delayMs: number, work: (signal: AbortSignal) => void): () => void {
  const controller = new AbortController();
  const timer = window.setTimeout(() => {
    work(controller.signal);
  }, delayMs);
  return () => {
    window.clearTimeout(timer);
    controller.abort();
  };
}
