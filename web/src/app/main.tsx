import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { createBrowserRouter, RouterProvider } from "react-router";

import "../shared/base.css";
import "./app.css";

import { setUnauthorizedHandler } from "./api";
import { routes } from "./routes";
import { SessionProvider } from "./session";

const router = createBrowserRouter(routes);

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
