import { useSyncExternalStore } from "react";
import { useServices } from "../app/context";
import type { ToastKind } from "../lib/toast";
import { cx } from "../lib/cx";

const STYLE: Record<ToastKind, string> = {
  error: "border-danger/40",
  warning: "border-warn/40",
  success: "border-ok/40",
  info: "border-info/40",
};
const ICON: Record<ToastKind, string> = { error: "⨯", warning: "!", success: "✓", info: "i" };
const ICON_STYLE: Record<ToastKind, string> = {
  error: "bg-danger/15 text-danger",
  warning: "bg-warn/15 text-warn",
  success: "bg-ok/15 text-ok",
  info: "bg-info/15 text-info",
};

export function Toaster() {
  const { toasts } = useServices();
  const items = useSyncExternalStore(toasts.subscribe, toasts.getToasts);
  return (
    <div
      className="pointer-events-none fixed inset-x-0 bottom-0 z-50 flex flex-col items-center gap-2 p-4 sm:items-end"
      aria-live="polite"
      aria-relevant="additions"
    >
      {items.map((toast) => (
        <div
          key={toast.id}
          role={toast.kind === "error" ? "alert" : "status"}
          data-testid={`toast-${toast.kind}`}
          className={cx(
            "pointer-events-auto flex w-full max-w-sm items-start gap-3 rounded-card border bg-surface p-3 shadow-card",
            STYLE[toast.kind],
          )}
        >
          <span className={cx("mt-0.5 flex h-5 w-5 shrink-0 items-center justify-center rounded-full text-xs font-bold", ICON_STYLE[toast.kind])} aria-hidden="true">
            {ICON[toast.kind]}
          </span>
          <div className="min-w-0 flex-1">
            <p className="text-sm font-medium">{toast.title}</p>
            {toast.message && <p className="mt-0.5 break-words text-sm text-muted">{toast.message}</p>}
          </div>
          <button
            type="button"
            className="rounded p-0.5 text-muted hover:text-text"
            aria-label="Dismiss notification"
            onClick={() => toasts.dismiss(toast.id)}
          >
            ✕
          </button>
        </div>
      ))}
    </div>
  );
}
