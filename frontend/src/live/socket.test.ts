import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { createFakeSocket, FakeWebSocket } from "../test/fakes";
import { worker } from "../test/data";
import { backoffDelay, LiveSocket, parseFrame, PING_INTERVAL_MS, withToken, type LiveMessage } from "./socket";

describe("parseFrame", () => {
  it("reads one message", () => {
    const messages = parseFrame(JSON.stringify({ type: "worker", data: worker(), ts: 12.5 }));
    expect(messages).toEqual([{ type: "worker", data: worker(), ts: 12.5 }]);
  });

  it("flattens a batch in order, each message keeping its own ts", () => {
    const frame = {
      type: "batch",
      ts: 100,
      data: [
        { type: "fleet", data: { online_workers: 1 }, ts: 98 },
        { type: "worker", data: worker() },
        { type: "pong", data: null, ts: 99 },
      ],
    };
    const messages = parseFrame(JSON.stringify(frame));
    expect(messages.map((m) => [m.type, m.ts])).toEqual([
      ["fleet", 98],
      ["worker", 100],
      ["pong", 99],
    ]);
  });

  it("fills a snapshot's missing parts", () => {
    const [snapshot] = parseFrame({ type: "snapshot", data: { subject: null, workers: [worker()] }, ts: 1 });
    expect(snapshot).toEqual({
      type: "snapshot",
      ts: 1,
      data: { subject: null, workers: [worker()], leases: [], blocks: [], fleet: null },
    });
  });

  it("drops what it does not understand", () => {
    expect(parseFrame("not json")).toEqual([]);
    expect(parseFrame(JSON.stringify({ type: "mystery", data: {} }))).toEqual([]);
    expect(parseFrame(JSON.stringify({ type: "worker", data: null }))).toEqual([]);
    expect(parseFrame(JSON.stringify([1, 2]))).toEqual([]);
  });
});

describe("backoffDelay", () => {
  const opts = { baseMs: 1000, maxMs: 30_000, jitter: 0.5 };
  it("doubles up to the cap", () => {
    const noJitter = () => 0;
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => backoffDelay(n, opts, noJitter))).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
  });
  it("takes off at most the jitter share", () => {
    expect(backoffDelay(3, opts, () => 1)).toBe(2000);
    expect(backoffDelay(3, opts, () => 0.5)).toBe(3000);
  });
});

describe("withToken", () => {
  it("appends the token as a query parameter", () => {
    expect(withToken("ws://h:1", null)).toBe("ws://h:1");
    expect(withToken("ws://h:1", "a.b+c")).toBe("ws://h:1?token=a.b%2Bc");
    expect(withToken("wss://h/live?x=1", "t")).toBe("wss://h/live?x=1&token=t");
  });
});

describe("LiveSocket", () => {
  let token: string | null;
  let received: LiveMessage[];
  let refused: number;

  beforeEach(() => {
    vi.useFakeTimers();
    FakeWebSocket.reset();
    token = null;
    received = [];
    refused = 0;
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  function make(url: string | null = "ws://live.test") {
    return new LiveSocket({
      url,
      getToken: () => token,
      onMessages: (m) => received.push(...m),
      onTokenRefused: () => {
        refused += 1;
      },
      createSocket: createFakeSocket,
      random: () => 0,
    });
  }

  it("is disabled without a URL", () => {
    const live = make(null);
    live.start();
    expect(live.getState().status).toBe("disabled");
    expect(FakeWebSocket.instances).toHaveLength(0);
  });

  it("asks for a snapshot on open and pings every five minutes", () => {
    const live = make();
    live.start();
    const socket = FakeWebSocket.last();
    expect(socket.url).toBe("ws://live.test");
    expect(live.getState().status).toBe("connecting");
    socket.open();
    expect(live.getState().status).toBe("open");
    expect(socket.sent).toEqual([{ action: "snapshot" }]);
    vi.advanceTimersByTime(PING_INTERVAL_MS);
    expect(socket.sent).toEqual([{ action: "snapshot" }, { action: "ping" }]);
    vi.advanceTimersByTime(PING_INTERVAL_MS);
    expect(socket.sent).toHaveLength(3);
    live.stop();
  });

  it("delivers messages, batches unpacked", () => {
    const live = make();
    live.start();
    const socket = FakeWebSocket.last();
    socket.open();
    socket.receive({ type: "batch", ts: 5, data: [{ type: "worker", data: worker() }, { type: "pong", data: null }] });
    expect(received.map((m) => m.type)).toEqual(["worker", "pong"]);
    expect(live.getState().lastMessageAt).not.toBeNull();
    live.stop();
  });

  it("reconnects with growing delays and resets them once open", () => {
    const live = make();
    live.start();
    FakeWebSocket.last().drop();
    expect(live.getState()).toMatchObject({ status: "reconnecting", attempt: 1 });
    expect(FakeWebSocket.instances).toHaveLength(1);
    vi.advanceTimersByTime(999);
    expect(FakeWebSocket.instances).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(FakeWebSocket.instances).toHaveLength(2);
    FakeWebSocket.last().drop();
    expect(live.getState().attempt).toBe(2);
    vi.advanceTimersByTime(1999);
    expect(FakeWebSocket.instances).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(FakeWebSocket.instances).toHaveLength(3);
    FakeWebSocket.last().open();
    expect(live.getState()).toMatchObject({ status: "open", attempt: 0, retryAt: null });
    // A drop after a good connection starts the backoff over.
    FakeWebSocket.last().drop();
    expect(live.getState().attempt).toBe(1);
    vi.advanceTimersByTime(1000);
    expect(FakeWebSocket.instances).toHaveLength(4);
    live.stop();
  });

  it("stops the ping when the connection drops", () => {
    const live = make();
    live.start();
    const socket = FakeWebSocket.last();
    socket.open();
    socket.drop();
    vi.advanceTimersByTime(PING_INTERVAL_MS);
    expect(socket.sent).toEqual([{ action: "snapshot" }]);
    live.stop();
  });

  it("sends the token, and reports a handshake refused with one (once per streak)", () => {
    token = "jwt";
    const live = make();
    live.start();
    expect(FakeWebSocket.last().url).toBe("ws://live.test?token=jwt");
    FakeWebSocket.last().drop();
    expect(refused).toBe(1);
    vi.advanceTimersByTime(1000);
    FakeWebSocket.last().drop();
    expect(refused).toBe(1);
    // Signed out meanwhile: the next attempt is anonymous.
    token = null;
    vi.advanceTimersByTime(2000);
    expect(FakeWebSocket.last().url).toBe("ws://live.test");
    FakeWebSocket.last().open();
    expect(live.getState().authenticated).toBe(false);
    live.stop();
  });

  it("does not report a refused token after a connection that opened", () => {
    token = "jwt";
    const live = make();
    live.start();
    FakeWebSocket.last().open();
    expect(live.getState().authenticated).toBe(true);
    FakeWebSocket.last().drop();
    expect(refused).toBe(0);
    live.stop();
  });

  it("closes a socket still in its handshake only once it opens (no browser error)", () => {
    const live = make();
    live.start();
    const connecting = FakeWebSocket.last();
    live.restart();
    expect(connecting.closedByClient).toBe(false);
    connecting.open();
    expect(connecting.closedByClient).toBe(true);
    expect(connecting.sent).toEqual([]);
    expect(live.getState().status).toBe("connecting");
    live.stop();
  });

  it("restart() reconnects at once with the current token", () => {
    const live = make();
    live.start();
    const first = FakeWebSocket.last();
    first.open();
    token = "new";
    live.restart();
    expect(first.closedByClient).toBe(true);
    expect(FakeWebSocket.last().url).toBe("ws://live.test?token=new");
    // The old socket's late events are ignored.
    first.drop();
    expect(live.getState().status).toBe("connecting");
    live.stop();
  });

  it("retryNow() skips the wait", () => {
    const live = make();
    live.start();
    FakeWebSocket.last().drop();
    expect(FakeWebSocket.instances).toHaveLength(1);
    live.retryNow();
    expect(FakeWebSocket.instances).toHaveLength(2);
    live.stop();
  });

  it("stop() closes and never reconnects", () => {
    const live = make();
    live.start();
    const socket = FakeWebSocket.last();
    socket.open();
    live.stop();
    expect(socket.closedByClient).toBe(true);
    vi.advanceTimersByTime(60_000);
    expect(FakeWebSocket.instances).toHaveLength(1);
    expect(live.getState().status).toBe("stopped");
  });
});
