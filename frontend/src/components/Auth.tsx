import type { ReactNode } from "react";
import { useSession } from "../app/context";
import { useSignIn } from "../auth/useSignIn";
import { AppIcon } from "./icons";
import { Button, Card } from "./ui";

export function SignInButton({ size = "md", label = "Sign in with wallet" }: { size?: "sm" | "md"; label?: string }) {
  const signIn = useSignIn();
  return (
    <Button variant="primary" size={size} busy={signIn.isPending} onClick={() => signIn.mutate()} data-testid="sign-in">
      {signIn.isPending ? "Check your wallet…" : label}
    </Button>
  );
}

/** The page's content once signed in; a sign-in card before. */
export function RequireAuth({ children, what }: { children: ReactNode; what: string }) {
  const session = useSession();
  if (session) return <>{children}</>;
  return (
    <Card className="mx-auto max-w-lg">
      <div className="flex flex-col items-center gap-3 py-6 text-center" data-testid="sign-in-required">
        <div className="text-muted"><AppIcon name="lock" /></div>
        <h2 className="text-lg font-semibold">Sign in to see {what}</h2>
        <p className="max-w-sm text-sm text-muted">
          Sign-In with Ethereum: your wallet signs a one-time message (EIP-4361). No transaction, no gas.
        </p>
        <SignInButton />
      </div>
    </Card>
  );
}
