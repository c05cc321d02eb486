import { describe, expect, it } from "vitest";

import { mergeShares } from "./ShareControls";

describe("mergeShares", () => {
  const made = { share_id: "s2", token: "t", url: "/share/t", created_at: "2026-12-06T10:00:01Z" };
  const older = { share_id: "s1", created_at: "2026-12-06T10:00:00Z" };

  it("keeps a link made here when a list read before it comes back without it", () => {
    expect(mergeShares([older], [made])).toEqual([made, older]);
  });

  it("keeps the address of a link made here once the list has it", () => {
    expect(mergeShares([{ share_id: "s2", created_at: made.created_at }, older], [made])).toEqual([made, older]);
  });

  it("drops a link the list no longer has unless it was just made", () => {
    expect(mergeShares([], [older])).toEqual([]);
  });
});
