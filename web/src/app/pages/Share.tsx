import { useEffect, useState } from "react";
import { useParams } from "react-router";

import { ApiError, api, type SharedReport } from "../api";
import { errorText, when } from "../format";
import { ReportBody, SourceList } from "../report";

/** A report shared by link: the report and its sources, nothing else of the workspace. */
export function SharePage() {
  const { token = "" } = useParams();
  const [shared, setShared] = useState<SharedReport | null>(null);
  const [error, setError] = useState("");

  useEffect(() => {
    // Public: a 401 here is not a lost session, so no redirect to the login page.
    api<SharedReport>(`/v1/shared/${encodeURIComponent(token)}`, { allowUnauthorized: true }).then(
      (r) => {
        setShared(r);
        document.title = `${r.title ?? r.question} · shared with Quarry`;
      },
      (exc: unknown) => {
        setError(
          exc instanceof ApiError && exc.status === 404
            ? "This shared report does not exist or its link was revoked."
            : errorText(exc),
        );
      },
    );
  }, [token]);

  return (
    <>
      <header className="app-header">
        <span className="brand">Quarry</span>
      </header>
      <main id="main" className="shared">
        {error ? (
          <>
            <h1>Not found</h1>
            <p role="alert">{error}</p>
          </>
        ) : shared === null ? (
          <p role="status">Loading…</p>
        ) : (
          <article>
            <h1>{shared.title ?? shared.question}</h1>
            <p className="muted">
              {shared.question} · {when(shared.completed_at)}
            </p>
            <ReportBody
              markdown={shared.report_markdown}
              sources={shared.sources.map((s) => ({ n: s.n, title: s.title, url: s.url, passage: s.passage }))}
              skipTitle
              firstLevel={2}
              omitSection="Sources"
            />
            <SourceList sources={shared.sources.map((s) => ({ n: s.n, title: s.title, url: s.url, passage: s.passage }))} />
          </article>
        )}
      </main>
    </>
  );
}
