import { lazy, Suspense, type ReactNode } from "react";
import { Navigate, type RouteObject } from "react-router";

import { Layout } from "./Layout";
import { AuthPage } from "./pages/Auth";
import { BillingPage } from "./pages/Billing";
import { DatasetsPage, MonitorsPage, SettingsPage, TemplatesPage } from "./pages/Manage";
import { NotFound } from "./pages/NotFound";
import { PageError } from "./pages/PageError";
import { ResearchPage } from "./pages/Research";
import { RunPage } from "./pages/Run";
import { SharePage } from "./pages/Share";
import { RequireOperator, RequireOpsAdmin } from "./features/ops/components/OpsPage";
import { RequireSession } from "./session";

const guarded = (page: ReactNode) => <RequireSession>{page}</RequireSession>;
// The operations console: refused to a user without a platform role before the page asks the API
// anything (and the API refuses them too). Its pages are a chunk of their own, loaded only by
// operators: a tenant's first load stays what it was.
const operator = (page: ReactNode) =>
  guarded(
    <RequireOperator>
      <Suspense fallback={<main id="main"><p role="status">Loading…</p></main>}>{page}</Suspense>
    </RequireOperator>,
  );
type OpsPageName = keyof typeof import("./pages/Ops");
// Each page of the console is loaded from the console's chunk when first shown (made once, here).
const opsPage = (name: OpsPageName) => {
  const Page = lazy(() => import("./pages/Ops").then((pages) => ({ default: pages[name] })));
  return <Page />;
};
const opsRoute = (path: string, name: OpsPageName): RouteObject => ({ path, element: operator(opsPage(name)) });
// The admin-only pages: an operator without the access is told so in the console's frame.
const opsAdminRoute = (path: string, name: OpsPageName, need: "replay" | "audit", title: string): RouteObject => ({
  path,
  element: operator(
    <RequireOpsAdmin need={need} title={title}>
      {opsPage(name)}
    </RequireOpsAdmin>,
  ),
});

export const routes: RouteObject[] = [
  {
    element: <Layout />,
    errorElement: <PageError />,
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
      opsRoute("/ops", "OpsOverviewPage"),
      opsRoute("/ops/streams", "OpsStreamsPage"),
      opsRoute("/ops/consumers", "OpsConsumersPage"),
      opsRoute("/ops/services", "OpsServicesPage"),
      opsRoute("/ops/events", "OpsEventsPage"),
      opsRoute("/ops/events/:seq", "OpsEventPage"),
      opsRoute("/ops/runs/:runId", "OpsRunPage"),
      opsRoute("/ops/deadletters", "OpsDeadLettersPage"),
      opsRoute("/ops/deadletters/:seq", "OpsDeadLetterPage"),
      opsRoute("/ops/rollouts", "OpsRolloutsPage"),
      opsRoute("/ops/rollouts/:rolloutId", "OpsRolloutPage"),
      opsAdminRoute("/ops/replays", "OpsReplaysPage", "replay", "Replays"),
      opsAdminRoute("/ops/replays/:replayId", "OpsReplayPage", "replay", "Replay"),
      opsAdminRoute("/ops/audit", "OpsAuditPage", "audit", "Audit log"),
      { path: "/app", element: <Navigate to="/research" replace /> },
      { path: "*", element: <NotFound /> },
    ],
  },
  // A shared report shows nothing of the workspace: no navigation, no session needed.
  { path: "/share/:token", element: <SharePage />, errorElement: <PageError /> },
];
