import { useLive, useLiveState, useNow, useServices } from "../app/context";
import { cx } from "../lib/cx";

/** The live channel's state, always visible: live, connecting, reconnecting in Ns, off. */
export function ConnectionIndicator({ compact = false }: { compact?: boolean }) {
  const state = useLiveState();
  const { live } = useServices();
  const received = useLive((s) => s.received);
  const now = useNow(1000);
  let tone = "bg-muted";
  let text = "Live updates off";
  let detail = "This deployment has no live channel.";
  switch (state.status) {
    case "open":
      tone = "bg-ok";
      text = "Live";
      detail = state.authenticated ? "Connected, signed in: your rigs and leases update live." : "Connected: public figures update live.";
      break;
    case "connecting":
      tone = "bg-warn";
      text = "Connecting";
      detail = "Opening the live channel…";
      break;
    case "reconnecting": {
      tone = "bg-danger";
      const seconds = state.retryAt ? Math.max(0, Math.ceil(state.retryAt / 1000 - now)) : 0;
      text = seconds > 0 ? `Reconnecting in ${seconds}s` : "Reconnecting";
      detail = `The live channel dropped (attempt ${state.attempt}). Data refreshes by polling meanwhile.`;
      break;
    }
    case "stopped":
      text = "Offline";
      detail = "Live updates are paused.";
      break;
  }
  const canRetry = state.status === "reconnecting";
  return (
    <div
      className="flex items-center gap-2 text-xs text-muted"
      data-testid="connection-indicator"
      data-status={state.status}
      data-authenticated={state.authenticated ? "true" : "false"}
      data-received={received}
    >
      <span className="relative inline-flex h-2.5 w-2.5" aria-hidden="true">
        {state.status === "open" && <span className={cx("absolute inline-flex h-full w-full animate-ping rounded-full opacity-50", tone)} />}
        <span className={cx("relative inline-flex h-2.5 w-2.5 rounded-full", tone)} />
      </span>
      <span role="status" aria-live="polite" title={detail} className={cx(compact && "sr-only sm:not-sr-only")}>
        {text}
      </span>
      {canRetry && (
        <button type="button" onClick={() => live.retryNow()} className="rounded px-1 text-accent underline-offset-2 hover:underline">
          Retry now
        </button>
      )}
    </div>
  );
}
