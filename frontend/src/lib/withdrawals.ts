/** Words for a withdrawal's state: paid by hand (pending → approved | rejected) or on chain
 * (issue #24: [pending →] queued → signing → sent → settled | failed). */
import type { WithdrawalOut, WithdrawalStatus } from "../api/types";
import { formatCredits, shortAddress } from "./format";

/** A subset of the Badge's tones. */
export type StatusTone = "neutral" | "ok" | "warn" | "danger" | "info";

export const WITHDRAWAL_STATUS: Record<WithdrawalStatus, { label: string; tone: StatusTone }> = {
  pending: { label: "Awaiting approval", tone: "warn" },
  approved: { label: "Approved", tone: "ok" },
  rejected: { label: "Rejected", tone: "danger" },
  queued: { label: "Queued", tone: "info" },
  signing: { label: "Signing", tone: "info" },
  sent: { label: "Sent", tone: "info" },
  settled: { label: "Paid", tone: "ok" },
  failed: { label: "Failed", tone: "danger" },
};

/** The statuses the payouts job still works on: the list is read again while one is there. */
export const IN_FLIGHT: readonly WithdrawalStatus[] = ["queued", "signing", "sent"];

export const isInFlight = (status: WithdrawalStatus): boolean => IN_FLIGHT.includes(status);

/** The status's badge; an unknown status (a newer API) reads as itself. */
export function withdrawalBadge(status: WithdrawalStatus): { label: string; tone: StatusTone } {
  return WITHDRAWAL_STATUS[status] ?? { label: String(status), tone: "neutral" };
}

/** Who let it go: on chain, automatically (up to the auto-pay limit) or an admin. */
export function approvalLabel(w: Pick<WithdrawalOut, "approval" | "status">): string | null {
  if (w.approval === "auto") return "paid automatically";
  if (w.approval === "admin" || w.status === "approved") return "approved by admin";
  return null;
}

export interface Confirmations {
  shown: number;
  required: number;
  /** 0..1, for a meter. */
  ratio: number;
  /** "2 / 12 confirmations". */
  text: string;
}

/** A sent payment's confirmations so far (capped at those required); null when the
 * withdrawal is not waiting for them. */
export function confirmationProgress(
  w: Pick<WithdrawalOut, "status" | "confirmations" | "required_confirmations">,
): Confirmations | null {
  if (w.status !== "sent") return null;
  const required = Math.max(1, w.required_confirmations ?? 1);
  const shown = Math.max(0, Math.min(w.confirmations, required));
  return { shown, required, ratio: shown / required, text: `${shown} / ${required} confirmation${required === 1 ? "" : "s"}` };
}

/** One sentence on where the withdrawal is and what happens next. */
export function withdrawalStep(w: WithdrawalOut): string {
  switch (w.status) {
    case "pending":
      return "Held out of your balance until an admin approves it.";
    case "approved":
      return "Approved: paid to your address by hand.";
    case "rejected":
      return "Rejected: the amount is back in your balance.";
    case "queued":
      return "Queued: the hot wallet pays it to your address within a minute or two.";
    case "signing":
      return w.nonce != null ? `Signing and sending the payment (nonce ${w.nonce}).` : "Signing and sending the payment.";
    case "sent":
      return w.block_number != null
        ? `Mined in block ${w.block_number}; paid once it has enough confirmations.`
        : (w.tx_hashes?.length ?? 0) > 1
          ? `Broadcast, waiting to be mined (re-sent ${(w.tx_hashes?.length ?? 1) - 1} time${(w.tx_hashes?.length ?? 0) === 2 ? "" : "s"} with higher fees).`
          : "Broadcast, waiting to be mined.";
    case "settled":
      return w.block_number != null ? `Paid to your address, in block ${w.block_number}.` : "Paid to your address.";
    case "failed":
      return `Failed${w.failure ? `: ${w.failure}` : ""}. The ${formatCredits(w.amount)} cr are back in your balance.`;
    default:
      return "";
  }
}

/** What the withdraw form says: how this deployment pays a request. */
export function withdrawHint(onChain: boolean, autoMax: number | null): string {
  if (!onChain) return "Held out of your balance until an operator approves; then paid to your address.";
  const limit =
    autoMax == null ? "Amounts up to the auto-pay limit are" : autoMax === 0 ? "" : `Amounts up to ${formatCredits(autoMax)} credits are`;
  return limit
    ? `${limit} paid automatically on chain to your signed-in address; a larger one waits for an admin's approval.`
    : "Paid on chain to your signed-in address once an admin approves.";
}

/** The toast after a request, from the withdrawal the API answered with. */
export function requestedMessage(w: Pick<WithdrawalOut, "amount" | "status">): string {
  const amount = `${formatCredits(w.amount)} credits`;
  if (w.status === "queued") return `${amount} queued: paid automatically to your address.`;
  return `${amount} held pending approval.`;
}

// -- the queue awaiting approval (admins) ---------------------------------------------------

export type Decision = "approve" | "reject";

/** What approving means on this deployment, said above the queue. */
export function approveHint(onChain: boolean): string {
  return onChain
    ? "Approving queues an on-chain payment from the hot wallet to the requester's address; rejecting returns the amount to their balance."
    : "Approving records the withdrawal as paid: you then pay the amount to the requester's address by hand. Rejecting returns it to their balance.";
}

/** The second click's question: what exactly is about to happen. */
export function confirmQuestion(decision: Decision, w: Pick<WithdrawalOut, "amount" | "address">): string {
  const amount = `${formatCredits(w.amount)} cr`;
  return decision === "approve"
    ? `Really approve ${amount} to ${shortAddress(w.address)}?`
    : `Really reject ${amount}? It goes back to ${shortAddress(w.address)}'s balance.`;
}

/** The toast after a decision, from the withdrawal the API answered with. */
export function decidedMessage(w: Pick<WithdrawalOut, "amount" | "address" | "status">): string {
  const amount = `${formatCredits(w.amount)} credits`;
  const who = shortAddress(w.address);
  switch (w.status) {
    case "rejected":
      return `${amount} are back in ${who}'s balance.`;
    case "approved":
      return `${amount} to ${who} approved: pay them to the address by hand.`;
    default:
      return `${amount} to ${who} queued: the hot wallet pays them on chain.`;
  }
}

// -- the hot wallet (admins) ----------------------------------------------------------------

const ALARMS: Record<string, string> = {
  hot_wallet_token_low: "Token balance low: fund the hot wallet",
  hot_wallet_gas_low: "Gas low: send the chain's coin to the hot wallet",
  daily_limit_reached: "Daily limit reached: payouts wait for the next UTC day",
  hot_wallet_nonce_mismatch: "Nonce mismatch: the wallet spent outside the platform",
  fees_over_cap: "Fees over the cap: payouts wait for cheaper gas",
  withdrawal_stuck: "A payout is stuck unmined",
  withdrawal_failed: "A payout reverted: its amount went back to the balance",
  unexpected_receipt: "A payout was mined without the expected token transfer",
};

/** "hot_wallet_gas_low" → what it means and what to do; an unknown alarm reads as itself. */
export function alarmLabel(alarm: string): string {
  const known = ALARMS[alarm];
  if (known) return known;
  const text = alarm.replace(/_/g, " ").trim();
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** The platform's next nonce against the chain's count of mined transactions. */
export function nonceState(next: number, chain: number | null): { text: string; tone: StatusTone } {
  if (chain == null) return { text: `next ${next} · chain not read yet`, tone: "neutral" };
  if (chain === next) return { text: `next ${next} · chain ${chain}: in step`, tone: "ok" };
  if (chain < next) {
    const n = next - chain;
    return { text: `next ${next} · chain ${chain}: ${n} unmined`, tone: "info" };
  }
  return { text: `next ${next} · chain ${chain}: the chain is ahead`, tone: "danger" };
}

/** Today's outflow as a share of the daily limit (0..1; a zero limit reads as full). */
export function outflowShare(outflow: number, limit: number): number {
  if (limit <= 0) return 1;
  return Math.max(0, Math.min(1, outflow / limit));
}
