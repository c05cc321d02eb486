import { useEffect, useId, useState, type SyntheticEvent } from "react";
import { Link, useNavigate, useSearchParams } from "react-router";

import { api, ApiError, safeNext, type CookieSession } from "../api";
import { LabelledInput } from "../components/ui/form";
import { errorText } from "../format";
import { useSession } from "../session";

type FieldName = "email" | "password" | "workspace";
// The account's fields, as the gateway bounds them (a password's autocomplete depends on the
// form); a sign-up also names its workspace.
const FIELDS: Record<FieldName, { label: string; type: string; autoComplete?: string; maxLength: number }> = {
  email: { label: "Email", type: "email", autoComplete: "email", maxLength: 254 },
  password: { label: "Password", type: "password", maxLength: 200 },
  workspace: { label: "Workspace name", type: "text", autoComplete: "organization", maxLength: 120 },
};
const LOGIN_FIELDS: FieldName[] = ["email", "password"];
const SIGNUP_FIELDS: FieldName[] = [...LOGIN_FIELDS, "workspace"];

export function AuthPage({ mode }: { mode: "login" | "signup" }) {
  const [params] = useSearchParams();
  const next = safeNext(params.get("next"));
  const navigate = useNavigate();
  const { refresh } = useSession();
  const [values, setValues] = useState<Record<FieldName, string>>({ email: "", password: "", workspace: "" });
  const { email, password, workspace } = values;
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
        {(signup ? SIGNUP_FIELDS : LOGIN_FIELDS).map((name) => (
          <LabelledInput
            key={name}
            id={`${ids}-${name}`}
            {...FIELDS[name]}
            autoComplete={FIELDS[name].autoComplete ?? (signup ? "new-password" : "current-password")}
            required
            value={values[name]}
            onChange={(value) => {
              setValues((now) => ({ ...now, [name]: value }));
            }}
          />
        ))}
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
