import { useEffect, useId, useState, type SyntheticEvent } from "react";
import { Link, useNavigate, useSearchParams } from "react-router";

import { api, ApiError, safeNext, type CookieSession } from "../api";
import { errorText } from "../format";
import { useSession } from "../session";

export function AuthPage({ mode }: { mode: "login" | "signup" }) {
  const [params] = useSearchParams();
  const next = safeNext(params.get("next"));
  const navigate = useNavigate();
  const { refresh } = useSession();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [workspace, setWorkspace] = useState("");
  const [error, setError] = useState("");
  const [busy, setBusy] = useState(false);
  const ids = useId();
  const signup = mode === "signup";
  const title = signup ? "Sign up" : "Log in";

  useEffect(() => {
    document.title = `${title} · Quarry`;
  }, [title]);

  async function submit(event: SyntheticEvent) {
    event.preventDefault();
    setError("");
    if (signup && workspace.trim() === "") {
      setError("Workspace name: give your workspace a name.");
      return;
    }
    setBusy(true);
    try {
      const body = signup
        ? { email: email.trim(), password, tenant_name: workspace.trim(), session: "cookie" }
        : { email: email.trim(), password, session: "cookie" };
      await api<CookieSession>(signup ? "/v1/auth/signup" : "/v1/auth/login", {
        method: "POST",
        body,
        allowUnauthorized: true,
      });
      await refresh();
      void navigate(next, { replace: true });
    } catch (exc) {
      if (exc instanceof ApiError && exc.status === 429) setError(`Too many attempts: ${exc.detail}`);
      else setError(errorText(exc));
    } finally {
      setBusy(false);
    }
  }

  const other = `${signup ? "/login" : "/signup"}${params.get("next") ? `?next=${encodeURIComponent(next)}` : ""}`;
  return (
    <main id="main" className="auth">
      <h1>{signup ? "Create your Quarry workspace" : "Log in to Quarry"}</h1>
      <form onSubmit={(e) => void submit(e)} noValidate={false} aria-describedby={`${ids}-error`}>
        <label htmlFor={`${ids}-email`}>Email</label>
        <input
          id={`${ids}-email`}
          type="email"
          autoComplete="email"
          required
          maxLength={254}
          value={email}
          onChange={(e) => {
            setEmail(e.target.value);
          }}
        />
        <label htmlFor={`${ids}-password`}>Password</label>
        <input
          id={`${ids}-password`}
          type="password"
          autoComplete={signup ? "new-password" : "current-password"}
          required
          maxLength={200}
          value={password}
          onChange={(e) => {
            setPassword(e.target.value);
          }}
        />
        {signup ? (
          <>
            <label htmlFor={`${ids}-workspace`}>Workspace name</label>
            <input
              id={`${ids}-workspace`}
              type="text"
              autoComplete="organization"
              required
              maxLength={120}
              value={workspace}
              onChange={(e) => {
                setWorkspace(e.target.value);
              }}
            />
          </>
        ) : null}
        <div id={`${ids}-error`} className="error" aria-live="assertive" role="alert">
          {error}
        </div>
        <button type="submit" disabled={busy}>
          {title}
        </button>
      </form>
      <p>
        {signup ? "Already have an account? " : "New to Quarry? "}
        <Link to={other}>{signup ? "Log in" : "Create an account"}</Link>
      </p>
    </main>
  );
}
