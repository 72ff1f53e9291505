import { createContext, useContext, useEffect, useState, useSyncExternalStore } from "react";
import type { Session } from "../auth/session";
import type { LiveState } from "../live/socket";
import type { LiveStore } from "../live/store";
import type { Services } from "./services";

export const ServicesContext = createContext<Services | null>(null);

export function useServices(): Services {
  const services = useContext(ServicesContext);
  if (!services) throw new Error("useServices outside <ServicesContext.Provider>");
  return services;
}

export const useApi = () => useServices().api;
export const useConfig = () => useServices().config;

export function useSession(): Session | null {
  const { sessions } = useServices();
  return useSyncExternalStore(sessions.subscribe, sessions.get);
}

/** The signed-in address, or null. */
export function useAddress(): string | null {
  return useSession()?.address ?? null;
}

export function useLiveState(): LiveState {
  const { live } = useServices();
  return useSyncExternalStore(live.subscribe, live.getState);
}

/** A value read from the live store; `select` must return a stable reference per change. */
export function useLive<T>(select: (store: LiveStore) => T): T {
  const { liveStore } = useServices();
  return useSyncExternalStore(liveStore.subscribe, () => select(liveStore));
}

/** One timer per interval, shared by every component ticking at that rate. */
class Ticker {
  private now = Date.now() / 1000;
  private timer: ReturnType<typeof setInterval> | null = null;
  private readonly listeners = new Set<() => void>();
  private readonly intervalMs: number;

  constructor(intervalMs: number) {
    this.intervalMs = intervalMs;
  }

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    if (this.timer === null) {
      this.now = Date.now() / 1000;
      this.timer = setInterval(() => {
        this.now = Date.now() / 1000;
        for (const l of this.listeners) l();
      }, this.intervalMs);
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0 && this.timer !== null) {
        clearInterval(this.timer);
        this.timer = null;
      }
    };
  };

  /** While no timer runs, a fresh time rounded to the interval (a stable snapshot). */
  get = (): number => {
    if (this.timer === null) this.now = (Math.floor(Date.now() / this.intervalMs) * this.intervalMs) / 1000;
    return this.now;
  };
}

const tickers = new Map<number, Ticker>();

function ticker(intervalMs: number): Ticker {
  let t = tickers.get(intervalMs);
  if (!t) {
    t = new Ticker(intervalMs);
    tickers.set(intervalMs, t);
  }
  return t;
}

/** Epoch seconds, ticking every `intervalMs` (relative times, countdowns). */
export function useNow(intervalMs = 1000): number {
  const t = ticker(intervalMs);
  return useSyncExternalStore(t.subscribe, t.get);
}

/** Changes when the theme (the class on <html>) changes, so canvases can repaint. */
export function useThemeKey(): string {
  const [theme, setTheme] = useState(() => document.documentElement.className);
  useEffect(() => {
    const observer = new MutationObserver(() => setTheme(document.documentElement.className));
    observer.observe(document.documentElement, { attributes: true, attributeFilter: ["class"] });
    return () => observer.disconnect();
  }, []);
  return theme;
}
