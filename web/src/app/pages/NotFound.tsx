import { Link } from "react-router";

export function NotFound({ what = "page" }: { what?: string }) {
  return (
    <main id="main">
      <h1>Not found</h1>
      <p>This {what} does not exist, or it is not in your workspace.</p>
      <p>
        <Link to="/research">Back to your research</Link>
      </p>
    </main>
  );
}
