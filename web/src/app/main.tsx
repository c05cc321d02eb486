import { StrictMode } from "react";
import { createRoot } from "react-dom/client";

import "../shared/base.css";

function App() {
  return <main><h1>Quarry</h1></main>;
}

const root = document.getElementById("root");
if (root === null) throw new Error("the app shell has no #root");
createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
