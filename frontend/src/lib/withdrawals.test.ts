import { describe, expect, it } from "vitest";
import type { WithdrawalStatus } from "../api/types";
import { manualWithdrawal, OTHER, withdrawal } from "../test/data";
import {
  alarmLabel,
  approvalLabel,
  approveHint,
  confirmationProgress,
  confirmQuestion,
  decidedMessage,
  isInFlight,
  nonceState,
  outflowShare,
  requestedMessage,
  withdrawalBadge,
  withdrawalStep,
  withdrawHint,
} from "./withdrawals";

describe("a withdrawal's status", () => {
  it.each([
    ["pending", "Awaiting approval", "warn", false],
    ["approved", "Approved", "ok", false],
    ["rejected", "Rejected", "danger", false],
    ["queued", "Queued", "info", true],
    ["signing", "Signing", "info", true],
    ["sent", "Sent", "info", true],
    ["settled", "Paid", "ok", false],
    ["failed", "Failed", "danger", false],
  ] as const)("%s: a %s badge (%s), in flight: %s", (status, label, tone, inFlight) => {
    expect(withdrawalBadge(status)).toEqual({ label, tone });
    expect(isInFlight(status)).toBe(inFlight);
  });

  it("reads a status a newer API adds as itself", () => {
    expect(withdrawalBadge("cancelled" as WithdrawalStatus)).toEqual({ label: "cancelled", tone: "neutral" });
  });
});

describe("confirmationProgress", () => {
  it("counts a sent payment's confirmations against those required", () => {
    expect(confirmationProgress(withdrawal())).toEqual({ shown: 2, required: 12, ratio: 2 / 12, text: "2 / 12 confirmations" });
  });

  it("caps them at those required and says one in the singular", () => {
    expect(confirmationProgress(withdrawal({ confirmations: 15 }))?.text).toBe("12 / 12 confirmations");
    expect(confirmationProgress(withdrawal({ confirmations: 0, required_confirmations: 1 }))).toEqual({
      shown: 0,
      required: 1,
      ratio: 0,
      text: "0 / 1 confirmation",
    });
  });

  it("is nothing unless the payment is sent", () => {
    for (const status of ["pending", "approved", "rejected", "queued", "signing", "settled", "failed"] as const) {
      expect(confirmationProgress(withdrawal({ status }))).toBeNull();
    }
  });
});

describe("approvalLabel", () => {
  it("says who let it go", () => {
    expect(approvalLabel(withdrawal({ approval: "auto" }))).toBe("paid automatically");
    expect(approvalLabel(withdrawal({ approval: "admin" }))).toBe("approved by admin");
    expect(approvalLabel(manualWithdrawal({ status: "approved" }))).toBe("approved by admin");
    expect(approvalLabel(manualWithdrawal())).toBeNull();
    expect(approvalLabel(manualWithdrawal({ status: "rejected" }))).toBeNull();
  });
});

describe("withdrawalStep", () => {
  it.each([
    [manualWithdrawal(), "Held out of your balance until an admin approves it."],
    [manualWithdrawal({ status: "approved" }), "Approved: paid to your address by hand."],
    [manualWithdrawal({ status: "rejected" }), "Rejected: the amount is back in your balance."],
    [withdrawal({ status: "queued", nonce: null, tx_hash: null }), "Queued: the hot wallet pays it to your address within a minute or two."],
    [withdrawal({ status: "signing", tx_hash: null }), "Signing and sending the payment (nonce 4)."],
    [withdrawal(), "Mined in block 120; paid once it has enough confirmations."],
    [withdrawal({ block_number: null }), "Broadcast, waiting to be mined."],
    [withdrawal({ block_number: null, tx_hashes: ["0x1", "0x2", "0x3"] }), "Broadcast, waiting to be mined (re-sent 2 times with higher fees)."],
    [withdrawal({ block_number: null, tx_hashes: ["0x1", "0x2"] }), "Broadcast, waiting to be mined (re-sent 1 time with higher fees)."],
    [withdrawal({ status: "settled", confirmations: 12, settled_at: 1_700_000_200 }), "Paid to your address, in block 120."],
    [
      withdrawal({ status: "failed", failure: "reverted on chain" }),
      "Failed: reverted on chain. The 25 cr are back in your balance.",
    ],
    [withdrawal({ status: "failed", failure: null }), "Failed. The 25 cr are back in your balance."],
  ])("%#: %s", (w, step) => {
    expect(withdrawalStep(w)).toBe(step);
  });
});

describe("the withdraw form", () => {
  it("names the auto-pay limit where config.json gives it", () => {
    expect(withdrawHint(true, 100_000_000)).toBe(
      "Amounts up to 100 credits are paid automatically on chain to your signed-in address; a larger one waits for an admin's approval.",
    );
    expect(withdrawHint(true, 2_500_000)).toMatch(/^Amounts up to 2\.5 credits are paid automatically/);
  });

  it("says it without a number where config.json has none, and with no promise where the limit is 0", () => {
    expect(withdrawHint(true, null)).toBe(
      "Amounts up to the auto-pay limit are paid automatically on chain to your signed-in address; a larger one waits for an admin's approval.",
    );
    expect(withdrawHint(true, 0)).toBe("Paid on chain to your signed-in address once an admin approves.");
  });

  it("keeps the operator's approval where withdrawals are paid by hand", () => {
    expect(withdrawHint(false, null)).toBe("Held out of your balance until an operator approves; then paid to your address.");
    expect(withdrawHint(false, 100_000_000)).not.toContain("automatically");
  });

  it("tells a queued request from one held for an admin", () => {
    expect(requestedMessage(withdrawal({ status: "queued" }))).toBe("25 credits queued: paid automatically to your address.");
    expect(requestedMessage(manualWithdrawal())).toBe("5 credits held pending approval.");
  });
});

describe("the hot wallet", () => {
  it("says what an alarm means, and an unknown one as itself", () => {
    expect(alarmLabel("hot_wallet_gas_low")).toBe("Gas low: send the chain's coin to the hot wallet");
    expect(alarmLabel("daily_limit_reached")).toBe("Daily limit reached: payouts wait for the next UTC day");
    expect(alarmLabel("something_new")).toBe("Something new");
  });

  it("compares the next nonce with the chain's", () => {
    expect(nonceState(5, 5)).toEqual({ text: "next 5 · chain 5: in step", tone: "ok" });
    expect(nonceState(7, 5)).toEqual({ text: "next 7 · chain 5: 2 unmined", tone: "info" });
    expect(nonceState(5, 6)).toEqual({ text: "next 5 · chain 6: the chain is ahead", tone: "danger" });
    expect(nonceState(0, null)).toEqual({ text: "next 0 · chain not read yet", tone: "neutral" });
  });

  it("takes today's outflow as a share of the daily limit", () => {
    expect(outflowShare(2_500_000_000, 10_000_000_000)).toBe(0.25);
    expect(outflowShare(12_000_000_000, 10_000_000_000)).toBe(1);
    expect(outflowShare(0, 0)).toBe(1);
  });
});

describe("the queue awaiting approval", () => {
  it("says what approving does: an on-chain payment from the hot wallet, or a payment by hand", () => {
    expect(approveHint(true)).toContain("queues an on-chain payment from the hot wallet");
    expect(approveHint(false)).toContain("you then pay the amount to the requester's address by hand");
    expect(approveHint(false)).not.toContain("hot wallet");
  });

  it("asks before deciding, naming the amount and whose it is", () => {
    const w = manualWithdrawal({ address: OTHER, amount: 1_500_000 });
    expect(confirmQuestion("approve", w)).toBe("Really approve 1.5 cr to 0x2222…2222?");
    expect(confirmQuestion("reject", w)).toBe("Really reject 1.5 cr? It goes back to 0x2222…2222's balance.");
  });

  it("says what the decision did, from the withdrawal the API answered with", () => {
    const w = manualWithdrawal({ address: OTHER, amount: 250_000_000 });
    expect(decidedMessage({ ...w, status: "queued" })).toBe("250 credits to 0x2222…2222 queued: the hot wallet pays them on chain.");
    expect(decidedMessage({ ...w, status: "approved" })).toBe("250 credits to 0x2222…2222 approved: pay them to the address by hand.");
    expect(decidedMessage({ ...w, status: "rejected" })).toBe("250 credits are back in 0x2222…2222's balance.");
  });
});
