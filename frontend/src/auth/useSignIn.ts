import { useMutation } from "@tanstack/react-query";
import { ApiError, errorMessage } from "../api/client";
import type { SignOutOut } from "../api/types";
import { useServices } from "../app/context";
import { getInjectedProvider, signInWithWallet } from "./wallet";

/** Sign in with the injected wallet; the session lands in the store (and every hook reacts). */
export function useSignIn() {
  const { api, sessions, toasts } = useServices();
  return useMutation({
    meta: { errorTitle: "Sign-in failed" },
    mutationFn: () => signInWithWallet(api, getInjectedProvider()),
    onSuccess: (session) => {
      sessions.set(session);
      toasts.success("Signed in", session.address);
    },
  });
}

/**
 * Sign out: the session leaves this browser at once, and the platform is told to void the
 * token (`POST /api/auth/logout`), or every session of the address (`/logout-all`,
 * `everywhere`), so a copy of the token elsewhere stops working too.
 */
export function useSignOut({ everywhere = false }: { everywhere?: boolean } = {}) {
  const { api, sessions, toasts } = useServices();
  return () => {
    const token = sessions.token();
    sessions.clear();
    if (!token) return;
    toasts.info(everywhere ? "Signed out everywhere" : "Signed out");
    api
      .post<SignOutOut>(everywhere ? "/api/auth/logout-all" : "/api/auth/logout", undefined, {
        auth: false,
        headers: { Authorization: `Bearer ${token}` },
      })
      .catch((error: unknown) => {
        // Refused as already signed out or expired: nothing is left to void.
        if (error instanceof ApiError && error.status === 401) return;
        toasts.warning("The platform was not told", `${errorMessage(error)} The token works until it expires.`);
      });
  };
}
