import { useCallback, useEffect, useId, useState } from "react";

import { api, get, post, type Share } from "../api";
import { Saved } from "../components/ui/form";
import { useAction } from "../hooks/use-action";
import { errorText, when } from "../format";

/** The listed links, each with the address this page was given when it made it (the list has
 * none), and those made here that a list read before them does not have yet. */
export function mergeShares(listed: readonly Share[], shown: readonly Share[]): Share[] {
  const made = new Map(shown.filter((s) => s.url).map((s) => [s.share_id, s]));
  const merged = listed.map((s) => ({ ...s, ...made.get(s.share_id) }));
  const newer = shown.filter((s) => s.url && !listed.some((l) => l.share_id === s.share_id));
  return [...newer, ...merged];
}

/** Read-only links to a finished report: create one, copy it, revoke it. */
export function ShareControls({ runId }: { runId: string }) {
  const ids = useId();
  const base = `/v1/runs/${encodeURIComponent(runId)}/shares`;
  const [shares, setShares] = useState<Share[]>([]);
  const [message, setMessage] = useState("");
  const { busy, run } = useAction(setMessage);

  const load = useCallback(
    () =>
      get<{ shares: Share[] } | Share[]>(base).then(
        (found) => {
          setShares((now) => mergeShares(Array.isArray(found) ? found : found.shares, now));
        },
        (exc: unknown) => {
          setMessage(`Share links could not be listed: ${errorText(exc)}`);
        },
      ),
    [base],
  );

  useEffect(() => {
    void load();
  }, [load]);

  async function create() {
    setMessage("");
    await run(async () => {
      const share = await post<Share>(base);
      setShares((now) => [share, ...now.filter((s) => s.share_id !== share.share_id)]);
      setMessage("Share link created.");
    });
  }

  async function revoke(share: Share) {
    setMessage("");
    await run(async () => {
      await api(`/v1/shares/${encodeURIComponent(share.share_id)}`, { method: "DELETE" });
      setShares((now) => now.filter((s) => s.share_id !== share.share_id));
      setMessage("Share link revoked: it no longer opens.");
    });
  }

  const absolute = (url: string) => new URL(url, window.location.origin).toString();

  return (
    <section aria-labelledby={`${ids}-h`} className="share">
      <h3 id={`${ids}-h`}>Share</h3>
      <p className="muted">Anyone with a link sees this report and its sources, and nothing else of your workspace.</p>
      <button type="button" disabled={busy} onClick={() => void create()}>
        Share
      </button>
      <ul>
        {shares.map((s) => (
          <li key={s.share_id}>
            {s.url ? (
              <a href={s.url}>{absolute(s.url)}</a>
            ) : (
              <span>A link (its address is shown only when it is made)</span>
            )}{" "}
            <span className="muted">created {when(s.created_at)}</span>{" "}
            <button
              type="button"
              className="link-button"
              disabled={busy}
              aria-label={`Revoke share link created ${when(s.created_at)}`}
              onClick={() => void revoke(s)}
            >
              Revoke
            </button>
          </li>
        ))}
      </ul>
      <Saved text={message} />
    </section>
  );
}
