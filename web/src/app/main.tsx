import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { createBrowserRouter, Navigate, RouterProvider } from "react-router";

import "../shared/base.css";
import "./app.css";

import { setUnauthorizedHandler } from "./api";
import { Layout } from "./Layout";
import { AuthPage } from "./pages/Auth";
import { BillingPage } from "./pages/Billing";
import { DatasetsPage, MonitorsPage, SettingsPage, TemplatesPage } from "./pages/Manage";
import { NotFound } from "./pages/NotFound";
import { ResearchPage } from "./pages/Research";
import { RunPage } from "./pages/Run";
import { SharePage } from "./pages/Share";
import { RequireSession, SessionProvider } from "./session";

const guarded = (page: React.ReactNode) => <RequireSession>{page}</RequireSession>;

const router = createBrowserRouter([
  {
    element: <Layout />,
    children: [
      { path: "/login", element: <AuthPage mode="login" /> },
      { path: "/signup", element: <AuthPage mode="signup" /> },
      { path: "/research", element: guarded(<ResearchPage />) },
      { path: "/research/runs/:runId", element: guarded(<RunPage />) },
      { path: "/billing", element: guarded(<BillingPage />) },
      { path: "/datasets", element: guarded(<DatasetsPage />) },
      { path: "/templates", element: guarded(<TemplatesPage />) },
      { path: "/monitors", element: guarded(<MonitorsPage />) },
      { path: "/settings", element: guarded(<SettingsPage />) },
      { path: "/app", element: <Navigate to="/research" replace /> },
      { path: "*", element: <NotFound /> },
    ],
  },
  // A shared report shows nothing of the workspace: no navigation, no session needed.
  { path: "/share/:token", element: <SharePage /> },
]);

// A 401 from any call: to the login page and back (client-side, keeping the app loaded).
setUnauthorizedHandler((url) => {
  void router.navigate(url, { replace: true });
});

const root = document.getElementById("root");
if (root === null) throw new Error("the app shell has no #root");
createRoot(root).render(
  <StrictMode>
    <SessionProvider>
      <RouterProvider router={router} />
    </SessionProvider>
  </StrictMode>,
);
