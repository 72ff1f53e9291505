/** Everything the app shares, built once from the runtime config (and rebuilt in tests). */
import { MutationCache, QueryCache, QueryClient } from "@tanstack/react-query";
import { ApiClient, ApiError, errorMessage } from "../api/client";
import { SessionStore } from "../auth/session";
import type { AppConfig } from "../config";
import { applyLiveMessages } from "../live/apply";
import { LiveSocket, type LiveSocketOptions } from "../live/socket";
import { LiveStore } from "../live/store";
import { toasts as defaultToasts, type ToastStore } from "../lib/toast";

export interface Services {
  config: AppConfig;
  api: ApiClient;
  sessions: SessionStore;
  queryClient: QueryClient;
  live: LiveSocket;
  liveStore: LiveStore;
  toasts: ToastStore;
  /** Stops the socket and listeners (tests, hot reload). */
  dispose: () => void;
}

export interface ServiceOverrides {
  fetcher?: typeof fetch;
  storage?: Storage | null;
  createSocket?: LiveSocketOptions["createSocket"];
  toasts?: ToastStore;
}

function shouldRetry(failureCount: number, error: unknown): boolean {
  if (error instanceof ApiError && error.status < 500) return false;
  return failureCount < 2;
}

export function createServices(config: AppConfig, overrides: ServiceOverrides = {}): Services {
  const toasts = overrides.toasts ?? defaultToasts;
  const sessions = new SessionStore(overrides.storage === undefined ? undefined : overrides.storage);
  const api = new ApiClient({
    baseUrl: config.apiUrl,
    getToken: sessions.token,
    fetcher: overrides.fetcher,
    onUnauthorized: () => {
      if (sessions.get()) {
        sessions.clear();
        toasts.warning("Signed out", "Your session has expired or is no longer valid: sign in again.");
      }
    },
  });

  const queryClient = new QueryClient({
    queryCache: new QueryCache({
      onError: (error, query) => {
        // A 401 is handled once (signed out above); background refetch failures of data
        // already on screen are not worth a toast each.
        if (error instanceof ApiError && error.status === 401) return;
        if (query.state.data !== undefined && !(error instanceof ApiError)) return;
        if (query.meta?.silent) return;
        toasts.error("Could not load data", errorMessage(error));
      },
    }),
    mutationCache: new MutationCache({
      onError: (error, _vars, _ctx, mutation) => {
        if (mutation.meta?.silent) return;
        const title = typeof mutation.meta?.errorTitle === "string" ? mutation.meta.errorTitle : "That did not work";
        toasts.error(title, errorMessage(error));
      },
    }),
    defaultOptions: {
      queries: {
        staleTime: 15_000,
        retry: shouldRetry,
        refetchOnWindowFocus: true,
      },
      mutations: { retry: false },
    },
  });

  const liveStore = new LiveStore();
  let checkingToken = false;
  const live = new LiveSocket({
    url: config.wsUrl,
    getToken: sessions.token,
    createSocket: overrides.createSocket,
    onMessages: (messages) => {
      const address = sessions.get()?.address ?? null;
      const subject = messages.find((m) => m.type === "snapshot")?.data;
      const subjectAddress =
        subject && typeof subject === "object" && "subject" in subject ? (subject.subject as string | null) : address;
      applyLiveMessages(
        {
          queryClient,
          store: liveStore,
          // A snapshot for someone else (a sign-out raced it) must not fill our caches.
          address: subjectAddress === address ? address : null,
          onAlert: (event) => toasts.warning(`Alert: ${event.rule_name}`, event.message),
        },
        messages,
      );
    },
    onTokenRefused: () => {
      // The handshake failed with a token: if the API refuses it too, sign out (the socket
      // then reconnects anonymously); if not, the WebSocket side was just unreachable.
      if (checkingToken) return;
      checkingToken = true;
      api
        .get("/api/auth/me")
        .catch(() => undefined)
        .finally(() => {
          checkingToken = false;
        });
    },
  });

  let lastAddress = sessions.get()?.address ?? null;
  const unsubscribe = sessions.subscribe(() => {
    const address = sessions.get()?.address ?? null;
    if (address === lastAddress) return;
    if (lastAddress) queryClient.removeQueries({ queryKey: ["private", lastAddress] });
    lastAddress = address;
    liveStore.resetPrivate();
    live.restart();
  });

  const onOnline = () => live.retryNow();
  const onVisible = () => {
    if (document.visibilityState === "visible") live.retryNow();
  };
  if (typeof window !== "undefined") {
    window.addEventListener("online", onOnline);
    document.addEventListener("visibilitychange", onVisible);
  }

  return {
    config,
    api,
    sessions,
    queryClient,
    live,
    liveStore,
    toasts,
    dispose: () => {
      unsubscribe();
      live.stop();
      if (typeof window !== "undefined") {
        window.removeEventListener("online", onOnline);
        document.removeEventListener("visibilitychange", onVisible);
      }
    },
  };
}
