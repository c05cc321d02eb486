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
const opsPage = <K extends keyof typeof import("./pages/Ops")>(name: K) =>
  lazy(() => import("./pages/Ops").then((pages) => ({ default: pages[name] })));
const OpsOverviewPage = opsPage("OpsOverviewPage");
const OpsStreamsPage = opsPage("OpsStreamsPage");
const OpsConsumersPage = opsPage("OpsConsumersPage");
const OpsServicesPage = opsPage("OpsServicesPage");
const OpsEventsPage = opsPage("OpsEventsPage");
const OpsEventPage = opsPage("OpsEventPage");
const OpsRunPage = opsPage("OpsRunPage");
const OpsDeadLettersPage = opsPage("OpsDeadLettersPage");
const OpsDeadLetterPage = opsPage("OpsDeadLetterPage");
const OpsReplaysPage = opsPage("OpsReplaysPage");
const OpsReplayPage = opsPage("OpsReplayPage");
const OpsAuditPage = opsPage("OpsAuditPage");
const OpsRolloutsPage = opsPage("OpsRolloutsPage");
const OpsRolloutPage = opsPage("OpsRolloutPage");

// The admin-only pages: an operator without the access is told so in the console's frame.
const opsAdmin = (need: "replay" | "audit", title: string, page: ReactNode) =>
  operator(
    <RequireOpsAdmin need={need} title={title}>
      {page}
    </RequireOpsAdmin>,
  );
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
      { path: "/ops", element: operator(<OpsOverviewPage />) },
      { path: "/ops/streams", element: operator(<OpsStreamsPage />) },
      { path: "/ops/consumers", element: operator(<OpsConsumersPage />) },
      { path: "/ops/services", element: operator(<OpsServicesPage />) },
      { path: "/ops/events", element: operator(<OpsEventsPage />) },
      { path: "/ops/events/:seq", element: operator(<OpsEventPage />) },
      { path: "/ops/runs/:runId", element: operator(<OpsRunPage />) },
      { path: "/ops/deadletters", element: operator(<OpsDeadLettersPage />) },
      { path: "/ops/deadletters/:seq", element: operator(<OpsDeadLetterPage />) },
      { path: "/ops/rollouts", element: operator(<OpsRolloutsPage />) },
      { path: "/ops/rollouts/:rolloutId", element: operator(<OpsRolloutPage />) },
      { path: "/ops/replays", element: opsAdmin("replay", "Replays", <OpsReplaysPage />) },
      { path: "/ops/replays/:replayId", element: opsAdmin("replay", "Replay", <OpsReplayPage />) },
      { path: "/ops/audit", element: opsAdmin("audit", "Audit log", <OpsAuditPage />) },
      { path: "/app", element: <Navigate to="/research" replace /> },
      { path: "*", element: <NotFound /> },
    ],
  },
  // A shared report shows nothing of the workspace: no navigation, no session needed.
  { path: "/share/:token", element: <SharePage />, errorElement: <PageError /> },
];
