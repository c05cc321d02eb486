/* The frame of every console page: its title, the console's own navigation, and the refusal page
 * a signed-in user without a platform role gets (before asking the API, and when it answers 403). */

import { useCallback, useEffect, useState, type ReactNode } from "react";
import { Link, NavLink } from "react-router";

import { ApiError, get } from "../../../api";
import { errorText } from "../../../format";
import { useSession } from "../../../session";
import { opsAccess, type OpsAccess } from "../logic";

/** The console's pages, each with the permission its navigation entry needs beyond `ops:read`. */
export const OPS_PAGES: readonly (readonly [string, string, keyof OpsAccess])[] = [
  ["/ops", "Overview", "read"],
  ["/ops/streams", "Streams", "read"],
  ["/ops/consumers", "Consumers", "read"],
  ["/ops/services", "Services", "read"],
  ["/ops/events", "Events", "read"],
  ["/ops/deadletters", "Dead letters", "read"],
  ["/ops/rollouts", "Rollouts", "read"],
  ["/ops/replays", "Replays", "replay"],
  ["/ops/audit", "Audit log", "audit"],
];

export function NotOperator() {
  useEffect(() => {
    document.title = "Not an operator · Quarry";
  }, []);
  return (
    <main id="main">
      <h1>Not an operator</h1>
      <p>
        The operations console is for the platform&apos;s operators. Your account holds no platform role, so the
        gateway refuses its pages (403).
      </p>
      <p>
        A platform operator is granted on the server with <code>quarry operator grant EMAIL</code>; tenant roles,
        owner included, do not reach it.
      </p>
    </main>
  );
}

/** A console page an operator reaches but whose permission only platform admins hold: said in
 * the console's frame, before anything is asked of the API (which would refuse it too). */
export function NotAllowed({ title, permission, what }: { title: string; permission: string; what: string }) {
  return (
    <OpsPage title={title}>
      <p role="alert">Not allowed: {what} is for platform admins only.</p>
      <p>
        Your account is a platform operator without <code>{permission}</code>; a platform admin is granted with{" "}
        <code>quarry operator grant EMAIL --role platform_admin</code>.
      </p>
    </OpsPage>
  );
}

/** What each admin-only access opens: the permission it takes and what the refusal calls it. */
const ADMIN_ONLY = {
  replay: { permission: "ops:replay", what: "Replaying the event log" },
  audit: { permission: "ops:audit", what: "The platform's audit log" },
} as const satisfies Partial<Record<keyof OpsAccess, { permission: string; what: string }>>;

/** A console page's route for platform admins: with the access `need` names, the page
 * (`children`); without it the refusal under the page's `title`, before anything is asked of the API. */
export function RequireOpsAdmin({ need, title, children }: { need: keyof typeof ADMIN_ONLY; title: string; children: ReactNode }) {
  const { me } = useSession();
  return opsAccess(me)[need] ? <>{children}</> : <NotAllowed title={title} {...ADMIN_ONLY[need]} />;
}

/** A console page's route: without `ops:read` the page is not even mounted, so nothing is asked of the API. */
export function RequireOperator({ children }: { children: ReactNode }) {
  const { me } = useSession();
  return opsAccess(me).read ? <>{children}</> : <NotOperator />;
}

/** A console page: its heading under the console's navigation; a page of one item ends with a
 * link `back` to the list it is in. */
export function OpsPage({ title, back, children }: { title: string; back?: { to: string; label: string }; children: ReactNode }) {
  const { me } = useSession();
  const access = opsAccess(me);
  useEffect(() => {
    document.title = `${title} · Operations · Quarry`;
  }, [title]);
  return (
    <main id="main" className="ops">
      <nav aria-label="Operations" className="ops-nav">
        <ul>
          {OPS_PAGES.filter(([, , needs]) => access[needs]).map(([to, label]) => (
            <li key={to}>
              <NavLink to={to} end>
                {label}
              </NavLink>
            </li>
          ))}
        </ul>
      </nav>
      <h1>{title}</h1>
      {children}
      {back ? (
        <p>
          <Link to={back.to}>{back.label}</Link>
        </p>
      ) : null}
    </main>
  );
}

export interface OpsRead<T> {
  data: T | null;
  error: string;
  /** The gateway answered 403: the role was revoked since the session began. */
  forbidden: boolean;
  reload: () => Promise<void>;
}

/** One console resource read when the page opens (and on `reload`); a 403 is told apart. */
export function useOpsRead<T>(path: string | null): OpsRead<T> {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState("");
  const [forbidden, setForbidden] = useState(false);
  const reload = useCallback(
    () =>
      path === null
        ? Promise.resolve()
        : get<T>(path).then(
            (found) => {
              setData(found);
              setError("");
            },
            (exc: unknown) => {
              if (exc instanceof ApiError && exc.status === 403) setForbidden(true);
              setError(errorText(exc));
            },
          ),
    [path],
  );
  useEffect(() => {
    void reload();
  }, [reload]);
  return { data, error, forbidden, reload };
}

/** The line a page shows while it reads, or why it could not. */
export function Reading({ what, read }: { what: string; read: Pick<OpsRead<unknown>, "data" | "error"> }) {
  if (read.error) return <p role="alert">{`${what} could not be read: ${read.error}`}</p>;
  if (read.data === null) return <p role="status">Loading…</p>;
  return null;
}

/** The button that reads a console resource again, once it has been read. */
export function ReadAgain({ read }: { read: Pick<OpsRead<unknown>, "data" | "reload"> }) {
  if (read.data === null) return null;
  return (
    <button type="button" className="link-button" onClick={() => void read.reload()}>
      Read again
    </button>
  );
}
