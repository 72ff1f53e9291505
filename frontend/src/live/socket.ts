/**
 * The live channel: one WebSocket that reconnects with exponential backoff and jitter,
 * asks for a snapshot on every open, pings every five minutes and unpacks `batch` frames.
 */
import type { FleetFigures, FleetWorker, GpuTelemetry, LeaseOut, RecentBlock, EventOut } from "../api/types";

export interface Snapshot {
  subject: string | null;
  workers: FleetWorker[];
  leases: LeaseOut[];
  blocks: RecentBlock[];
  fleet: FleetFigures | null;
}

/** A heartbeat, pushed as it arrives: the figures it updates on a worker we already show. */
export interface WorkerTelemetry {
  worker_id: string;
  online: boolean;
  offline: boolean;
  last_seen: number;
  seconds_silent: number;
  hashrate: number;
  active_gpus: number;
  accepted_blocks: number;
  telemetry: GpuTelemetry[];
}

export type LiveMessage =
  | { type: "snapshot"; data: Snapshot; ts: number }
  | { type: "worker"; data: FleetWorker; ts: number }
  | { type: "telemetry"; data: WorkerTelemetry; ts: number }
  | { type: "lease"; data: LeaseOut; ts: number }
  | { type: "block"; data: RecentBlock; ts: number }
  | { type: "alert"; data: EventOut; ts: number }
  | { type: "fleet"; data: FleetFigures; ts: number }
  | { type: "pong"; data: unknown; ts: number };

const KNOWN = new Set(["snapshot", "worker", "telemetry", "lease", "block", "alert", "fleet", "pong"]);

/** Every message in one frame, `batch` frames flattened (in order). Unknown types are dropped. */
export function parseFrame(raw: unknown, fallbackTs: number = Date.now() / 1000): LiveMessage[] {
  let value: unknown = raw;
  if (typeof raw === "string") {
    try {
      value = JSON.parse(raw);
    } catch {
      return [];
    }
  }
  const out: LiveMessage[] = [];
  collect(value, fallbackTs, out, 0);
  return out;
}

function collect(value: unknown, fallbackTs: number, out: LiveMessage[], depth: number): void {
  if (depth > 3 || !value || typeof value !== "object") return;
  const frame = value as { type?: unknown; data?: unknown; ts?: unknown };
  const ts = typeof frame.ts === "number" && Number.isFinite(frame.ts) ? frame.ts : fallbackTs;
  if (frame.type === "batch") {
    if (Array.isArray(frame.data)) for (const item of frame.data) collect(item, ts, out, depth + 1);
    return;
  }
  if (typeof frame.type !== "string" || !KNOWN.has(frame.type)) return;
  if (frame.type !== "pong" && (frame.data === null || typeof frame.data !== "object")) return;
  if (frame.type === "snapshot") {
    const data = frame.data as Partial<Snapshot>;
    out.push({
      type: "snapshot",
      ts,
      data: {
        subject: typeof data.subject === "string" ? data.subject : null,
        workers: Array.isArray(data.workers) ? data.workers : [],
        leases: Array.isArray(data.leases) ? data.leases : [],
        blocks: Array.isArray(data.blocks) ? data.blocks : [],
        fleet: data.fleet && typeof data.fleet === "object" ? data.fleet : null,
      },
    });
    return;
  }
  out.push({ type: frame.type, data: frame.data, ts } as LiveMessage);
}

export type LiveStatus = "disabled" | "connecting" | "open" | "reconnecting" | "stopped";

export interface LiveState {
  status: LiveStatus;
  /** Failed attempts in a row (0 once open). */
  attempt: number;
  /** Epoch ms of the next attempt while reconnecting. */
  retryAt: number | null;
  /** Whether the open connection carries a session token. */
  authenticated: boolean;
  /** Epoch ms of the last message received. */
  lastMessageAt: number | null;
}

export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
  /** 0..1: the share of each delay that is random. */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 1000, maxMs: 30_000, jitter: 0.3 };
export const PING_INTERVAL_MS = 5 * 60 * 1000;

/** The delay before attempt `attempt` (1-based): base·2^(n-1), capped, less some jitter. */
export function backoffDelay(attempt: number, options: BackoffOptions = DEFAULT_BACKOFF, random = Math.random): number {
  const exp = Math.min(options.maxMs, options.baseMs * 2 ** Math.max(0, attempt - 1));
  const jitter = exp * options.jitter * random();
  return Math.round(exp - jitter);
}

export function withToken(url: string, token: string | null): string {
  if (!token) return url;
  const sep = url.includes("?") ? "&" : "?";
  return `${url}${sep}token=${encodeURIComponent(token)}`;
}

type WebSocketLike = Pick<WebSocket, "send" | "close" | "readyState"> & {
  onopen: ((ev: Event) => void) | null;
  onclose: ((ev: CloseEvent) => void) | null;
  onerror: ((ev: Event) => void) | null;
  onmessage: ((ev: MessageEvent) => void) | null;
};

export interface LiveSocketOptions {
  url: string | null;
  getToken: () => string | null;
  onMessages: (messages: LiveMessage[]) => void;
  /** A connection with a token closed before it opened: the token may have been refused. */
  onTokenRefused?: () => void;
  createSocket?: (url: string) => WebSocketLike;
  backoff?: BackoffOptions;
  pingIntervalMs?: number;
  random?: () => number;
  now?: () => number;
}

const CONNECTING = 0;
const OPEN = 1;

export class LiveSocket {
  private readonly options: LiveSocketOptions;
  private socket: WebSocketLike | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private pingTimer: ReturnType<typeof setInterval> | null = null;
  private running = false;
  private opened = false;
  private usedToken = false;
  private refusedReported = false;
  private state: LiveState;
  private readonly listeners = new Set<() => void>();

  constructor(options: LiveSocketOptions) {
    this.options = options;
    this.state = {
      status: options.url ? "stopped" : "disabled",
      attempt: 0,
      retryAt: null,
      authenticated: false,
      lastMessageAt: null,
    };
  }

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getState = (): LiveState => this.state;

  private setState(patch: Partial<LiveState>): void {
    this.state = { ...this.state, ...patch };
    for (const listener of this.listeners) listener();
  }

  private now(): number {
    return this.options.now ? this.options.now() : Date.now();
  }

  start(): void {
    if (!this.options.url || this.running) return;
    this.running = true;
    this.connect();
  }

  stop(): void {
    this.running = false;
    this.clearTimers();
    this.dropSocket();
    this.setState({ status: this.options.url ? "stopped" : "disabled", retryAt: null, authenticated: false });
  }

  /** Reconnect now (a new token, the network came back): the backoff starts over. */
  restart(): void {
    if (!this.options.url) return;
    this.clearTimers();
    this.dropSocket();
    this.running = true;
    this.setState({ attempt: 0 });
    this.connect();
  }

  /** Skip the wait of a pending reconnect. */
  retryNow(): void {
    if (this.running && this.retryTimer !== null) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
      this.connect();
    }
  }

  send(message: object): boolean {
    if (this.socket && this.socket.readyState === OPEN) {
      this.socket.send(JSON.stringify(message));
      return true;
    }
    return false;
  }

  private clearTimers(): void {
    if (this.retryTimer !== null) clearTimeout(this.retryTimer);
    if (this.pingTimer !== null) clearInterval(this.pingTimer);
    this.retryTimer = null;
    this.pingTimer = null;
  }

  private dropSocket(): void {
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      socket.onclose = null;
      socket.onerror = null;
      socket.onmessage = null;
      if (socket.readyState === CONNECTING) {
        // Closing a socket mid-handshake makes the browser log an error: let it open, then close.
        socket.onopen = () => socket.close(1000, "client closing");
        return;
      }
      socket.onopen = null;
      try {
        socket.close(1000, "client closing");
      } catch {
        // already closed
      }
    }
  }

  private connect(): void {
    const base = this.options.url;
    if (!base || !this.running) return;
    const token = this.options.getToken();
    this.usedToken = token !== null;
    this.opened = false;
    this.setState({ status: this.state.attempt > 0 ? "reconnecting" : "connecting", retryAt: null });
    let socket: WebSocketLike;
    try {
      const create = this.options.createSocket ?? ((url: string) => new WebSocket(url) as WebSocketLike);
      socket = create(withToken(base, token));
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      if (this.socket !== socket) return;
      this.opened = true;
      this.refusedReported = false;
      this.setState({ status: "open", attempt: 0, retryAt: null, authenticated: this.usedToken });
      this.send({ action: "snapshot" });
      this.pingTimer = setInterval(() => this.send({ action: "ping" }), this.options.pingIntervalMs ?? PING_INTERVAL_MS);
    };
    socket.onmessage = (event: MessageEvent) => {
      if (this.socket !== socket) return;
      const messages = parseFrame(event.data, this.now() / 1000);
      this.setState({ lastMessageAt: this.now() });
      if (messages.length > 0) this.options.onMessages(messages);
    };
    socket.onerror = () => {
      // onclose follows and schedules the retry
    };
    socket.onclose = () => {
      if (this.socket !== socket) return;
      this.socket = null;
      if (this.pingTimer !== null) clearInterval(this.pingTimer);
      this.pingTimer = null;
      if (!this.opened && this.usedToken && !this.refusedReported) {
        this.refusedReported = true;
        this.options.onTokenRefused?.();
      }
      this.scheduleReconnect();
    };
  }

  private scheduleReconnect(): void {
    if (!this.running) return;
    const attempt = this.state.attempt + 1;
    const delay = backoffDelay(attempt, this.options.backoff ?? DEFAULT_BACKOFF, this.options.random);
    this.setState({ status: "reconnecting", attempt, retryAt: this.now() + delay, authenticated: false });
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.connect();
    }, delay);
  }
}
