/* Who is logged in, for every workspace page: loaded once from /v1/auth/me. */

import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from "react";
import { Navigate, useLocation } from "react-router";

import { api, ApiError, loginUrl, SESSION_LOST, type Me } from "./api";

interface SessionState {
  me: Me | null;
  loading: boolean;
  error: string | null;
  refresh: () => Promise<void>;
  clear: () => void;
}

const SessionContext = createContext<SessionState | null>(null);

export function SessionProvider({ children }: { children: ReactNode }) {
  const [me, setMe] = useState<Me | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string | null>(null);

  const refresh = useCallback(async () => {
    setLoading(true);
    try {
      setMe(await api<Me>("/v1/auth/me", { allowUnauthorized: true }));
      setError(null);
    } catch (exc) {
      setMe(null);
      setError(exc instanceof ApiError && exc.status !== 401 ? exc.detail : null);
    } finally {
      setLoading(false);
    }
  }, []);

  const clear = useCallback(() => {
    setMe(null);
  }, []);

  useEffect(() => {
    api<Me>("/v1/auth/me", { allowUnauthorized: true }).then(
      (found) => {
        setMe(found);
        setLoading(false);
      },
      (exc: unknown) => {
        setError(exc instanceof ApiError && exc.status !== 401 ? exc.detail : null);
        setLoading(false);
      },
    );
  }, []);

  // A 401 anywhere: the header stops showing an account the server no longer knows.
  useEffect(() => {
    const lost = () => {
      setMe(null);
    };
    window.addEventListener(SESSION_LOST, lost);
    return () => {
      window.removeEventListener(SESSION_LOST, lost);
    };
  }, []);

  return <SessionContext value={{ me, loading, error, refresh, clear }}>{children}</SessionContext>;
}

export function useSession(): SessionState {
  const state = useContext(SessionContext);
  if (state === null) throw new Error("useSession outside SessionProvider");
  return state;
}

export function planName(me: Me | null): string | null {
  if (!me?.plan) return null;
  return typeof me.plan === "string" ? me.plan : me.plan.name;
}

/** A workspace page: an anonymous visitor goes to /login and comes back here afterwards. */
export function RequireSession({ children }: { children: ReactNode }) {
  const { me, loading, error } = useSession();
  const location = useLocation();
  if (loading) {
    return (
      <main id="main">
        <p role="status">Loading…</p>
      </main>
    );
  }
  if (error) {
    return (
      <main id="main">
        <p role="alert">The workspace could not be loaded: {error}</p>
      </main>
    );
  }
  if (me === null) return <Navigate to={loginUrl(location.pathname + location.search)} replace />;
  return <>{children}</>;
}
