import { act, renderHook, waitFor } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Services } from "../app/services";
import type { ToastStore } from "../lib/toast";
import { block, lease, listing, ME, worker } from "../test/data";
import { FakeWebSocket, type Route } from "../test/fakes";
import { testServices } from "../test/services";
import { keys } from "./keys";
import { useFleet, useLeases, useMarketplace, useOverviewStats, useRecentBlocks, useRent, useStopLease } from "./queries";
import type { LeaseOut, Page } from "./types";


let services: Services;
let toasts: ToastStore;

function setup(routes: Route[], { signedIn = true } = {}) {
  // Tests read results outside render, so every change must re-render (no tracked props).
  const made = testServices(routes, { signedIn, queries: { notifyOnChangeProps: "all" } });
  ({ services, toasts } = made);
  return made;
}

beforeEach(() => FakeWebSocket.reset());
afterEach(() => {
  services.dispose();
  services.queryClient.clear();
});

describe("data hooks", () => {
  it("useOverviewStats reads the public figures without a token", async () => {
    const { wrapper, calls } = setup([{ path: "/api/overview/stats", body: { online_workers: 3, hashrate: 4500 } }]);
    const { result } = renderHook(() => useOverviewStats(), { wrapper });
    await waitFor(() => expect(result.current.isSuccess).toBe(true));
    expect(result.current.data).toMatchObject({ online_workers: 3 });
    expect(calls[0]?.headers.Authorization).toBeUndefined();
  });

  it("useFleet joins every page", async () => {
    const { wrapper, calls } = setup([
      {
        path: "/api/monitoring/fleet",
        handler: (url) =>
          url.searchParams.get("cursor") === "p2"
            ? { body: { items: [worker({ worker_id: "rig-2" })], next_cursor: null } }
            : { body: { items: [worker()], next_cursor: "p2" } },
      },
    ]);
    const { result } = renderHook(() => useFleet(), { wrapper });
    await waitFor(() => expect(result.current.isSuccess).toBe(true));
    expect(result.current.data?.items.map((w) => w.worker_id)).toEqual(["rig-1", "rig-2"]);
    expect(calls).toHaveLength(2);
    expect(calls[0]?.headers.Authorization).toBe("Bearer jwt");
  });

  it("private hooks wait for sign-in", () => {
    const { wrapper, calls } = setup([], { signedIn: false });
    const { result } = renderHook(() => useFleet(), { wrapper });
    expect(result.current.fetchStatus).toBe("idle");
    expect(calls).toHaveLength(0);
  });

  it("useRent takes the listing off the market at once and puts it back when renting fails", async () => {
    let answer: { status: number; body: unknown } = {
      status: 402,
      body: { error: { code: "insufficient_funds", message: "not enough credit: 0.5 needed" } },
    };
    let release: () => void = () => undefined;
    let gate = new Promise<void>((resolve) => (release = resolve));
    const { wrapper, calls } = setup([
      { path: "/api/marketplace", body: { items: [listing(), listing({ listing_id: "listing-2" })], next_cursor: null } },
      {
        method: "POST",
        path: "/api/leases",
        handler: async () => {
          await gate;
          return answer;
        },
      },
      { path: "/api/leases", body: { items: [], next_cursor: null } },
    ]);
    const market = renderHook(() => useMarketplace({ sort: "price_per_hs" }), { wrapper });
    await waitFor(() => expect(market.result.current.isSuccess).toBe(true));
    const rent = renderHook(() => useRent(), { wrapper });

    act(() => rent.result.current.mutate({ listingId: "listing-1", durationSec: 3600, key: "key-1" }));
    await waitFor(() =>
      expect(market.result.current.data?.pages[0]?.items.map((l) => l.listing_id)).toEqual(["listing-2"]),
    );
    release();
    await waitFor(() => expect(rent.result.current.isError).toBe(true));
    expect(market.result.current.data?.pages[0]?.items.map((l) => l.listing_id)).toEqual(["listing-1", "listing-2"]);
    expect(toasts.getToasts()).toEqual([expect.objectContaining({ kind: "error", title: "Could not rent", message: "not enough credit: 0.5 needed" })]);
    const post = calls.find((c) => c.method === "POST");
    expect(post?.headers["Idempotency-Key"]).toBe("key-1");
    expect(post?.body).toEqual({ listing_id: "listing-1", duration_sec: 3600 });

    // Success: the new lease lands in the renter's list without a refetch.
    answer = { status: 201, body: lease() };
    gate = Promise.resolve();
    const leases = renderHook(() => useLeases("renter"), { wrapper });
    await waitFor(() => expect(leases.result.current.isSuccess).toBe(true));
    act(() => rent.result.current.mutate({ listingId: "listing-1", durationSec: 3600, key: "key-2" }));
    await waitFor(() => expect(rent.result.current.isSuccess).toBe(true));
    expect(services.queryClient.getQueryData<Page<LeaseOut>>(keys.leases(ME, "renter"))?.items).toEqual([lease()]);
  });

  it("useStopLease marks the lease stopping at once and takes the server's answer", async () => {
    const stopped = lease({ stopped_at: 1_700_000_500, ends_at: 1_700_000_500 });
    const { wrapper } = setup([
      { path: "/api/leases", body: { items: [lease()], next_cursor: null } },
      { method: "POST", path: "/api/leases/lease-1/stop", body: stopped },
    ]);
    const leases = renderHook(() => useLeases("renter"), { wrapper });
    await waitFor(() => expect(leases.result.current.isSuccess).toBe(true));
    const stop = renderHook(() => useStopLease(), { wrapper });
    act(() => stop.result.current.mutate("lease-1"));
    await waitFor(() => expect(leases.result.current.data?.items[0]?.stopped_at).not.toBeNull());
    await waitFor(() => expect(stop.result.current.isSuccess).toBe(true));
    expect(leases.result.current.data?.items[0]).toEqual(stopped);
  });

  it("a 401 signs out, says so once, and drops private data", async () => {
    const { wrapper } = setup([
      { path: "/api/leases", status: 401, body: { error: { code: "unauthorized", message: "token expired" } } },
    ]);
    services.queryClient.setQueryData(keys.account(ME), { balance: 1 });
    renderHook(() => useLeases("renter"), { wrapper });
    await waitFor(() => expect(services.sessions.get()).toBeNull());
    expect(services.queryClient.getQueryData(keys.account(ME))).toBeUndefined();
    expect(toasts.getToasts().map((t) => t.title)).toEqual(["Signed out"]);
  });

  it("shows the API's message when a read fails", async () => {
    const { wrapper } = setup([
      { path: "/api/monitoring/blocks/recent", status: 422, body: { error: { code: "invalid_input", message: "limit: too big" } } },
    ]);
    const { result } = renderHook(() => useRecentBlocks(), { wrapper });
    await waitFor(() => expect(result.current.isError).toBe(true));
    expect(toasts.getToasts()).toEqual([expect.objectContaining({ title: "Could not load data", message: "limit: too big" })]);
  });
});

describe("live updates through the services", () => {
  it("connect with the token, fold worker events into the fleet, and reconnect anonymously on sign-out", async () => {
    const { wrapper } = setup([{ path: "/api/monitoring/fleet", body: { items: [worker({ hashrate: 100 })], next_cursor: null } }]);
    services.live.start();
    const socket = FakeWebSocket.last();
    expect(socket.url).toBe("ws://live.test?token=jwt");
    const { result } = renderHook(() => useFleet(), { wrapper });
    await waitFor(() => expect(result.current.isSuccess).toBe(true));
    await act(async () => {
      socket.open();
      socket.receive({ type: "snapshot", ts: 1, data: { subject: ME, workers: [worker({ hashrate: 200 })], leases: [], blocks: [], fleet: null } });
      socket.receive({ type: "batch", ts: 2, data: [{ type: "worker", ts: 2, data: worker({ hashrate: 300 }) }, { type: "block", ts: 2, data: block() }] });
      await Promise.resolve();
    });
    await waitFor(() => expect(result.current.data?.items[0]?.hashrate).toBe(300));
    expect(socket.sent).toEqual([{ action: "snapshot" }]);

    act(() => services.sessions.clear());
    expect(socket.closedByClient).toBe(true);
    expect(FakeWebSocket.last().url).toBe("ws://live.test");
  });

  it("ignores a snapshot addressed to someone else", async () => {
    const { wrapper } = setup([{ path: "/api/monitoring/fleet", body: { items: [worker({ hashrate: 100 })], next_cursor: null } }]);
    services.live.start();
    const { result } = renderHook(() => useFleet(), { wrapper });
    await waitFor(() => expect(result.current.isSuccess).toBe(true));
    act(() => {
      FakeWebSocket.last().open();
      FakeWebSocket.last().receive({
        type: "snapshot",
        ts: 1,
        data: { subject: "0x9999999999999999999999999999999999999999", workers: [worker({ hashrate: 999 })], leases: [], blocks: [], fleet: null },
      });
    });
    expect(result.current.data?.items[0]?.hashrate).toBe(100);
  });
});
