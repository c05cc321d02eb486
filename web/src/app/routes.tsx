import type { ReactNode } from "react";
import { Navigate, type RouteObject } from "react-router";

import { Layout } from "./Layout";
import { AuthPage } from "./pages/Auth";
import { BillingPage } from "./pages/Billing";
import { DatasetsPage, MonitorsPage, SettingsPage, TemplatesPage } from "./pages/Manage";
import { NotFound } from "./pages/NotFound";
import {
  OpsConsumersPage,
  OpsDeadLetterPage,
  OpsDeadLettersPage,
  OpsEventPage,
  OpsEventsPage,
  OpsOverviewPage,
  OpsRunPage,
  OpsStreamsPage,
} from "./pages/Ops";
import { PageError } from "./pages/PageError";
import { ResearchPage } from "./pages/Research";
import { RunPage } from "./pages/Run";
import { SharePage } from "./pages/Share";
import { RequireSession } from "./session";

const guarded = (page: ReactNode) => <RequireSession>{page}</RequireSession>;

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
      // The operations console: each page refuses a user without a platform role (and so does the API).
      { path: "/ops", element: guarded(<OpsOverviewPage />) },
      { path: "/ops/streams", element: guarded(<OpsStreamsPage />) },
      { path: "/ops/consumers", element: guarded(<OpsConsumersPage />) },
      { path: "/ops/events", element: guarded(<OpsEventsPage />) },
      { path: "/ops/events/:seq", element: guarded(<OpsEventPage />) },
      { path: "/ops/runs/:runId", element: guarded(<OpsRunPage />) },
      { path: "/ops/deadletters", element: guarded(<OpsDeadLettersPage />) },
      { path: "/ops/deadletters/:seq", element: guarded(<OpsDeadLetterPage />) },
      { path: "/app", element: <Navigate to="/research" replace /> },
      { path: "*", element: <NotFound /> },
    ],
  },
  // A shared report shows nothing of the workspace: no navigation, no session needed.
  { path: "/share/:token", element: <SharePage />, errorElement: <PageError /> },
];
