/* Who asks in the console's component tests: a signed-in owner holding the given permissions
 * beyond `runs:read` (the console's own come from platform roles, not the tenant role), and
 * markup a hostile payload carries, which every page must show as text. */
import { cleanup } from "@testing-library/react";
import { afterEach, vi } from "vitest";

export const HOSTILE = "<img src=x onerror=alert(document.domain)>";

export const opsPerson = (permissions: string[]) => ({
  user_id: "u1",
  tenant_id: "t1",
  email: "ops@example.org",
  role: "owner",
  roles: ["owner"],
  permissions: ["runs:read", ...permissions],
  key_id: null,
});

/** Unmounts each test's page and takes back the gateway `serve` stubbed in. */
export function cleanUpEachTest() {
  afterEach(() => {
    cleanup();
    vi.unstubAllGlobals();
  });
}
