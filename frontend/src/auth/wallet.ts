/** Sign-in with an EIP-1193 wallet and the EIP-4361 (SIWE) message the API issues. */
import type { ApiClient } from "../api/client";
import type { NonceOut, TokenOut } from "../api/types";
import type { Session } from "./session";

export interface Eip1193Provider {
  request(args: { method: string; params?: unknown[] | object }): Promise<unknown>;
  on?(event: string, listener: (...args: unknown[]) => void): void;
  removeListener?(event: string, listener: (...args: unknown[]) => void): void;
}

declare global {
  interface Window {
    ethereum?: Eip1193Provider;
  }
}

export class WalletError extends Error {}

export function getInjectedProvider(): Eip1193Provider | null {
  return typeof window !== "undefined" && window.ethereum ? window.ethereum : null;
}

/** UTF-8 text as 0x-hex: what personal_sign takes. */
export function utf8ToHex(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let hex = "0x";
  for (const byte of bytes) hex += byte.toString(16).padStart(2, "0");
  return hex;
}

function walletMessage(error: unknown): string {
  const e = error as { code?: number; message?: string } | null;
  if (e?.code === 4001) return "The wallet request was rejected.";
  if (e?.code === -32002) return "The wallet already has a request open: check it.";
  return e?.message ? `Wallet: ${e.message}` : "The wallet did not answer.";
}

/** Ask the wallet for an account, sign the API's message, exchange it for a session. */
export async function signInWithWallet(
  api: ApiClient,
  provider: Eip1193Provider | null,
): Promise<Session> {
  if (!provider) {
    throw new WalletError("No Ethereum wallet found. Install a browser wallet (e.g. MetaMask) to sign in.");
  }
  let accounts: unknown;
  try {
    accounts = await provider.request({ method: "eth_requestAccounts" });
  } catch (error) {
    throw new WalletError(walletMessage(error));
  }
  const address = Array.isArray(accounts) && typeof accounts[0] === "string" ? accounts[0] : null;
  if (!address) throw new WalletError("The wallet gave no account.");

  const challenge = await api.get<NonceOut>("/api/auth/nonce", { query: { address }, auth: false });
  let signature: unknown;
  try {
    signature = await provider.request({
      method: "personal_sign",
      params: [utf8ToHex(challenge.message), address],
    });
  } catch (error) {
    throw new WalletError(walletMessage(error));
  }
  if (typeof signature !== "string") throw new WalletError("The wallet gave no signature.");

  const token = await api.post<TokenOut>(
    "/api/auth/verify",
    { address, signature, nonce: challenge.nonce },
    { auth: false },
  );
  return {
    token: token.token,
    address: token.address,
    isAdmin: token.is_admin,
    expiresAt: token.expires_at,
  };
}
