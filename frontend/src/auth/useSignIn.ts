import { useMutation } from "@tanstack/react-query";
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

export function useSignOut() {
  const { sessions, toasts } = useServices();
  return () => {
    sessions.clear();
    toasts.info("Signed out");
  };
}
