import { describe, expect, it, vi } from "vitest";
import { ApiClient } from "../api/client";
import { parseConfig } from "../config";
import { memoryStorage, mockFetch } from "../test/fakes";
import { SessionStore } from "./session";
import { signInWithWallet, utf8ToHex, WalletError, type Eip1193Provider } from "./wallet";

const ADDRESS = "0xAbCdEf0123456789aBcDeF0123456789AbCdEf01";

describe("SessionStore", () => {
  it("keeps a session across instances until it expires", () => {
    const storage = memoryStorage();
    let now = 1000;
    const first = new SessionStore(storage, () => now);
    const listener = vi.fn();
    first.subscribe(listener);
    first.set({ token: "t", address: ADDRESS, isAdmin: false, expiresAt: 2000 });
    expect(listener).toHaveBeenCalledTimes(1);
    const second = new SessionStore(storage, () => now);
    expect(second.token()).toBe("t");
    now = 2000;
    expect(second.get()).toBeNull();
    expect(new SessionStore(storage, () => now).get()).toBeNull();
  });

  it("ignores garbage in storage", () => {
    const storage = memoryStorage();
    storage.setItem("xenblocks.session", "{not json");
    expect(new SessionStore(storage).get()).toBeNull();
    storage.setItem("xenblocks.session", JSON.stringify({ token: 1 }));
    expect(new SessionStore(storage).get()).toBeNull();
  });

  it("clear() notifies once", () => {
    const store = new SessionStore(memoryStorage(), () => 0);
    store.set({ token: "t", address: ADDRESS, isAdmin: false, expiresAt: 10 });
    const listener = vi.fn();
    store.subscribe(listener);
    store.clear();
    store.clear();
    expect(listener).toHaveBeenCalledTimes(1);
  });
});

describe("signInWithWallet", () => {
  const message = "localhost wants you to sign in with your Ethereum account:\n" + ADDRESS + "\n\nNonce: abc";

  function api() {
    return mockFetch([
      { path: "/api/auth/nonce", body: { nonce: "abc123", message, issued_at: 1, expires_at: 2 } },
      {
        method: "POST",
        path: "/api/auth/verify",
        handler: (_url, init) => {
          const body = JSON.parse(String(init.body)) as { signature: string; nonce: string };
          if (body.signature !== "0xsig" || body.nonce !== "abc123") return { status: 401, body: { error: { code: "unauthorized", message: "bad signature" } } };
          return { body: { token: "jwt", address: ADDRESS, is_admin: false, expires_at: 99 } };
        },
      },
    ]);
  }

  it("asks for the account, signs the API's message as hex, and returns the session", async () => {
    const { fetch, calls } = api();
    const requests: { method: string; params?: unknown }[] = [];
    const provider: Eip1193Provider = {
      request: async (args) => {
        requests.push(args);
        if (args.method === "eth_requestAccounts") return [ADDRESS.toLowerCase()];
        if (args.method === "personal_sign") return "0xsig";
        throw new Error("unexpected");
      },
    };
    const client = new ApiClient({ baseUrl: "http://test.local", getToken: () => "stale", fetcher: fetch });
    const session = await signInWithWallet(client, provider);
    expect(session).toEqual({ token: "jwt", address: ADDRESS, isAdmin: false, expiresAt: 99 });
    expect(requests[1]).toEqual({ method: "personal_sign", params: [utf8ToHex(message), ADDRESS.toLowerCase()] });
    expect(calls[0]?.url.searchParams.get("address")).toBe(ADDRESS.toLowerCase());
    // No stale token rides along on sign-in requests.
    expect(calls.every((c) => c.headers.Authorization === undefined)).toBe(true);
  });

  it("explains a missing wallet and a rejected request", async () => {
    const client = new ApiClient({ baseUrl: "http://test.local", getToken: () => null, fetcher: api().fetch });
    await expect(signInWithWallet(client, null)).rejects.toBeInstanceOf(WalletError);
    const rejecting: Eip1193Provider = {
      request: async () => {
        throw Object.assign(new Error("User rejected"), { code: 4001 });
      },
    };
    await expect(signInWithWallet(client, rejecting)).rejects.toThrow("The wallet request was rejected.");
  });

  it("encodes UTF-8 as hex", () => {
    expect(utf8ToHex("hi")).toBe("0x6869");
    expect(utf8ToHex("é")).toBe("0xc3a9");
  });
});

describe("parseConfig", () => {
  it("reads the platform's config.json", () => {
    expect(
      parseConfig({ api_url: "http://127.0.0.1:8080/", ws_url: "ws://127.0.0.1:8081", region: "r", stage: "local", chain_id: 5 }, "http://x"),
    ).toEqual({ apiUrl: "http://127.0.0.1:8080", wsUrl: "ws://127.0.0.1:8081", region: "r", stage: "local", chainId: 5, deposits: false, withdrawalsOnChain: false, withdrawalAutoMax: null });
  });

  it("defaults an empty api_url to the page's origin and strips a trailing /api", () => {
    expect(parseConfig({ api_url: "" }, "http://dash").apiUrl).toBe("http://dash");
    expect(parseConfig({ api_url: "https://api.example.com/api" }, "http://dash").apiUrl).toBe("https://api.example.com");
    expect(parseConfig({ api_url: "" }, "http://dash").wsUrl).toBeNull();
  });

  it("reads deposits on chain as on only when config.json says true", () => {
    expect(parseConfig({ api_url: "", deposits: true }, "http://x").deposits).toBe(true);
    expect(parseConfig({ api_url: "", deposits: "yes" }, "http://x").deposits).toBe(false);
    expect(parseConfig({ api_url: "" }, "http://x").deposits).toBe(false);
  });

  it("reads withdrawals on chain and their auto-pay limit, which means nothing without them", () => {
    const on = parseConfig({ api_url: "", withdrawals_on_chain: true, withdrawal_auto_max: 100_000_000 }, "http://x");
    expect([on.withdrawalsOnChain, on.withdrawalAutoMax]).toEqual([true, 100_000_000]);
    const unsaid = parseConfig({ api_url: "", withdrawals_on_chain: true, withdrawal_auto_max: null }, "http://x");
    expect([unsaid.withdrawalsOnChain, unsaid.withdrawalAutoMax]).toEqual([true, null]);
    const odd = parseConfig({ api_url: "", withdrawals_on_chain: true, withdrawal_auto_max: 1.5 }, "http://x");
    expect(odd.withdrawalAutoMax).toBeNull();
    const off = parseConfig({ api_url: "", withdrawals_on_chain: "yes", withdrawal_auto_max: 5 }, "http://x");
    expect([off.withdrawalsOnChain, off.withdrawalAutoMax]).toEqual([false, null]);
  });

  it("refuses a config without api_url", () => {
    expect(() => parseConfig({}, "http://x")).toThrow(/api_url/);
    expect(() => parseConfig(null, "http://x")).toThrow();
  });
});
