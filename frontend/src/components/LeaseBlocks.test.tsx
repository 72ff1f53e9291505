import { cleanup, render, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";
import type { Block } from "../api/types";
import { LeaseBlockList } from "./LeaseBlocks";

afterEach(cleanup);

function block(changes: Partial<Block>): Block {
  return {
    hash: "XEN11aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    worker_id: "rig-1",
    owner: "0xA11CE",
    lease_id: "lse-1",
    account: "0xB0B",
    key: "ab".repeat(32),
    difficulty: 1727,
    attempts: 10,
    reported_hashrate: 100,
    kind: "normal",
    verified: true,
    reason: "normal",
    found_at: 1_700_000_000,
    recorded_at: 1_700_000_001,
    network_status: "unconfirmed",
    network_reason: null,
    network_at: null,
    network_accepted: null,
    ...changes,
  };
}

describe("LeaseBlockList", () => {
  it("shows every block with the network's answer", () => {
    render(
      <LeaseBlockList
        blocks={[
          block({ hash: "XEN11accepted", network_status: "accepted", network_accepted: true }),
          block({ hash: "XEN11duplicate", network_status: "duplicate", network_accepted: true }),
          block({
            hash: "XEN11refused",
            network_status: "refused",
            network_reason: "Hash verification failed.",
            network_accepted: false,
          }),
          block({ hash: "XEN11unreachable", network_status: "unreachable" }),
          block({ hash: "XEN11pending" }),
          block({ hash: "XEN11pending", verified: false, kind: null, reason: "hash_mismatch" }),
        ]}
      />,
    );
    const items = within(screen.getByTestId("lease-blocks")).getAllByRole("listitem");
    expect(items).toHaveLength(6);
    const row = (index: number): HTMLElement => {
      const found = items[index];
      if (!found) throw new Error(`no row ${index}`);
      return found;
    };
    expect(row(0).textContent).toContain("On the network");
    // A duplicate (saved by an earlier submission) counts as accepted.
    expect(row(1).textContent).toContain("On the network");
    expect(within(row(1)).getByText("On the network").getAttribute("title")).toContain("counts as accepted");
    expect(row(2).textContent).toContain("Network refused");
    expect(row(2).textContent).toContain("Hash verification failed.");
    expect(row(3).textContent).toContain("Node unreachable");
    expect(row(4).textContent).toContain("Unconfirmed");
    // A report we refused shows our reason, and no network status of its own.
    expect(row(5).textContent).toContain("Rejected");
    expect(row(5).textContent).toContain("hash_mismatch");
    expect(row(5).textContent).not.toContain("Unconfirmed");
  });
});
