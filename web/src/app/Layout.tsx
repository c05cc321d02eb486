import { useEffect, useRef, useState } from "react";
import { NavLink, Outlet, useLocation, useNavigate } from "react-router";

import { post } from "./api";
import { opsAccess } from "./features/ops/logic";
import { errorText } from "./format";
import { useSession } from "./session";

const NAV = [
  ["/research", "Research"],
  ["/datasets", "Datasets"],
  ["/templates", "Templates"],
  ["/monitors", "Monitors"],
  ["/billing", "Billing"],
  ["/settings", "Settings"],
] as const;

/** The workspace frame: skip link, banner with navigation and logout, the page as <main>. */
export function Layout() {
  const { me, clear } = useSession();
  const navigate = useNavigate();
  const [error, setError] = useState("");
  const location = useLocation();
  const firstPage = useRef(true);

  // A new page in a single-page app announces nothing by itself: focus its main landmark, as a
  // page load would put the reader at the top (not on the first load, where the browser does).
  useEffect(() => {
    if (firstPage.current) {
      firstPage.current = false;
      return;
    }
    const main = document.querySelector("main");
    if (main instanceof HTMLElement) {
      main.tabIndex = -1;
      main.focus({ preventScroll: false });
    }
  }, [location.pathname]);

  async function logout() {
    setError("");
    try {
      await post<null>("/v1/auth/logout");
    } catch (exc) {
      setError(`Logging out failed: ${errorText(exc)}`);
      return;
    }
    clear();
    void navigate("/login", { replace: true });
  }

  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="app-header">
        <a className="brand" href="/">
          Quarry
        </a>
        {me ? (
          <>
            <nav aria-label="Workspace">
              <ul>
                {NAV.map(([to, label]) => (
                  <li key={to}>
                    <NavLink to={to}>{label}</NavLink>
                  </li>
                ))}
                {/* Only to platform operators and admins: a tenant's roles never reach the console. */}
                {opsAccess(me).read ? (
                  <li>
                    <NavLink to="/ops">Operations</NavLink>
                  </li>
                ) : null}
              </ul>
            </nav>
            <div className="account">
              <span className="muted" title={me.role}>
                {me.email}
              </span>
              <button type="button" className="link-button" onClick={() => void logout()}>
                Log out
              </button>
            </div>
          </>
        ) : null}
      </header>
      <div role="alert" className="error">
        {error}
      </div>
      <Outlet />
    </>
  );
}
