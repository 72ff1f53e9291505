// A test wallet for the browser: an EIP-1193 `window.ethereum` injected into the page whose
// signing happens here in Node (viem), reached through page.exposeFunction.
import { privateKeyToAccount } from "viem/accounts";

/** @param {string} key 0x-hex (or bare hex) secp256k1 private key */
export function walletFromKey(key) {
  const hex = /** @type {`0x${string}`} */ (key.startsWith("0x") ? key : `0x${key}`);
  return privateKeyToAccount(hex);
}

/**
 * Installs `window.ethereum` in every page of `context`.
 * @param {import("playwright-core").BrowserContext} context
 * @param {ReturnType<typeof walletFromKey>} account
 * @param {{ chainId?: number, log?: (line: string) => void }} [options]
 */
export async function injectWallet(context, account, options = {}) {
  const chainId = `0x${(options.chainId ?? 1).toString(16)}`;
  const log = options.log ?? (() => undefined);
  await context.exposeFunction("__e2eWalletRequest", async (/** @type {{ method: string, params?: unknown[] }} */ args) => {
    try {
      switch (args.method) {
        case "eth_requestAccounts":
        case "eth_accounts":
          return { result: [account.address] };
        case "eth_chainId":
          return { result: chainId };
        case "net_version":
          return { result: String(Number(chainId)) };
        case "personal_sign": {
          const [data, address] = /** @type {[string, string]} */ (args.params ?? []);
          if (String(address).toLowerCase() !== account.address.toLowerCase()) {
            return { error: { code: 4100, message: `not this wallet's account: ${address}` } };
          }
          const raw = /** @type {`0x${string}`} */ (data.startsWith("0x") ? data : `0x${Buffer.from(data, "utf8").toString("hex")}`);
          const signature = await account.signMessage({ message: { raw } });
          log(`wallet: signed ${Buffer.from(raw.slice(2), "hex").toString("utf8").split("\n")[0]}`);
          return { result: signature };
        }
        default:
          return { error: { code: 4200, message: `the test wallet does not support ${args.method}` } };
      }
    } catch (error) {
      return { error: { code: -32603, message: error instanceof Error ? error.message : String(error) } };
    }
  });
  await context.addInitScript(() => {
    const listeners = new Map();
    const provider = {
      isE2EWallet: true,
      /** @param {{ method: string, params?: unknown[] }} args */
      async request(args) {
        // @ts-expect-error exposed by the test
        const answer = await window.__e2eWalletRequest({ method: args.method, params: args.params ?? [] });
        if (answer.error) throw Object.assign(new Error(answer.error.message), { code: answer.error.code });
        return answer.result;
      },
      /** @param {string} event @param {(...a: unknown[]) => void} fn */
      on(event, fn) {
        listeners.set(fn, event);
      },
      /** @param {string} _event @param {(...a: unknown[]) => void} fn */
      removeListener(_event, fn) {
        listeners.delete(fn);
      },
    };
    Object.defineProperty(window, "ethereum", { value: provider, configurable: true });
    window.dispatchEvent(new Event("ethereum#initialized"));
  });
}
