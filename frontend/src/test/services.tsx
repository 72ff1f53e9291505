/** The app's services on test doubles (a scripted fetch, memory storage, fake sockets), for
 * hook and component tests, with a wrapper that provides them. */
import { QueryClientProvider, type QueryObserverOptions } from "@tanstack/react-query";
import type { ReactNode } from "react";
import { ServicesContext } from "../app/context";
import { createServices } from "../app/services";
import type { AppConfig } from "../config";
import { ToastStore } from "../lib/toast";
import { ME } from "./data";
import { createFakeSocket, memoryStorage, mockFetch, type Route } from "./fakes";

export const TEST_CONFIG: AppConfig = { apiUrl: "http://test.local", wsUrl: "ws://live.test", region: "r", stage: "local", chainId: 1, deposits: false, withdrawalsOnChain: false, withdrawalAutoMax: null };

export interface TestServicesOptions {
  /** Signed in as ME (the default), or signed out. */
  signedIn?: boolean;
  config?: Partial<AppConfig>;
  /** Query defaults over the tests' own: no retries, nothing stale. */
  queries?: Partial<QueryObserverOptions>;
}

export function testServices(routes: Route[], { signedIn = true, config = {}, queries = {} }: TestServicesOptions = {}) {
  const fetched = mockFetch(routes);
  const toasts = new ToastStore();
  const services = createServices({ ...TEST_CONFIG, ...config }, { fetcher: fetched.fetch, storage: memoryStorage(), createSocket: createFakeSocket, toasts });
  services.queryClient.setDefaultOptions({ queries: { retry: false, staleTime: Infinity, ...queries } });
  if (signedIn) services.sessions.set({ token: "jwt", address: ME, isAdmin: false, expiresAt: Date.now() / 1000 + 3600 });
  const wrapper = ({ children }: { children: ReactNode }) => (
    <ServicesContext.Provider value={services}>
      <QueryClientProvider client={services.queryClient}>{children}</QueryClientProvider>
    </ServicesContext.Provider>
  );
  return { ...fetched, services, toasts, wrapper };
}
