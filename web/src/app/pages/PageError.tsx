import { useRouteError } from "react-router";

/** What a page that threw shows instead of React Router's developer screen. */
export function PageError() {
  const error = useRouteError();
  const detail = error instanceof Error ? error.message : "an unknown error";
  return (
    <main id="main" tabIndex={-1}>
      <h1>Something went wrong</h1>
      <p role="alert">This page could not be shown ({detail}). Reload the page to try again.</p>
      <p>
        <a href="/research">Back to your runs</a>
      </p>
    </main>
  );
}
