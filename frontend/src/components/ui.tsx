/** Small building blocks: cards, buttons, badges, skeletons, empty and error states, fields. */
import {
  useEffect,
  useId,
  useRef,
  useState,
  type ButtonHTMLAttributes,
  type ComponentProps,
  type ReactNode,
} from "react";
import { errorMessage } from "../api/client";
import { useNow } from "../app/context";
import { cx } from "../lib/cx";
import { formatAbsolute, formatRelative } from "../lib/format";


export function Card({
  title,
  actions,
  children,
  className,
  bodyClassName,
  id,
  testId,
}: {
  title?: ReactNode;
  actions?: ReactNode;
  children: ReactNode;
  className?: string;
  bodyClassName?: string;
  id?: string;
  testId?: string;
}) {
  const headingId = useId();
  return (
    <section
      id={id}
      data-testid={testId}
      aria-labelledby={title ? headingId : undefined}
      className={cx("rounded-card border border-border bg-surface shadow-card min-w-0", className)}
    >
      {(title || actions) && (
        <header className="flex flex-wrap items-center justify-between gap-2 border-b border-border px-4 py-3">
          {title && (
            <h2 id={headingId} className="text-sm font-semibold tracking-wide text-text">
              {title}
            </h2>
          )}
          {actions && <div className="flex flex-wrap items-center gap-2">{actions}</div>}
        </header>
      )}
      <div className={cx("p-4", bodyClassName)}>{children}</div>
    </section>
  );
}

type Variant = "primary" | "secondary" | "ghost" | "danger";
const VARIANTS: Record<Variant, string> = {
  primary: "bg-accent text-accent-fg hover:brightness-110 disabled:opacity-50",
  secondary: "border border-border bg-surface-2 text-text hover:border-muted disabled:opacity-50",
  ghost: "text-muted hover:text-text hover:bg-surface-2 disabled:opacity-50",
  danger: "border border-danger/40 bg-danger/10 text-danger hover:bg-danger/20 disabled:opacity-50",
};

export function Button({
  variant = "secondary",
  size = "md",
  busy = false,
  className,
  children,
  disabled,
  type = "button",
  ...rest
}: ButtonHTMLAttributes<HTMLButtonElement> & { variant?: Variant; size?: "sm" | "md"; busy?: boolean }) {
  return (
    <button
      type={type}
      disabled={disabled || busy}
      aria-busy={busy || undefined}
      className={cx(
        "inline-flex items-center justify-center gap-2 rounded-lg font-medium transition-colors disabled:cursor-not-allowed",
        size === "sm" ? "px-2.5 py-1 text-xs" : "px-3.5 py-2 text-sm",
        VARIANTS[variant],
        className,
      )}
      {...rest}
    >
      {busy && <Spinner />}
      {children}
    </button>
  );
}

export function Spinner({ className }: { className?: string }) {
  return (
    <span
      aria-hidden="true"
      className={cx("inline-block h-3.5 w-3.5 animate-spin rounded-full border-2 border-current border-t-transparent", className)}
    />
  );
}

type Tone = "neutral" | "ok" | "warn" | "danger" | "info" | "accent";
const TONES: Record<Tone, string> = {
  neutral: "bg-surface-2 text-muted border-border",
  ok: "bg-ok/10 text-ok border-ok/30",
  warn: "bg-warn/10 text-warn border-warn/30",
  danger: "bg-danger/10 text-danger border-danger/30",
  info: "bg-info/10 text-info border-info/30",
  accent: "bg-accent/10 text-accent border-accent/30",
};

export function Badge({ tone = "neutral", children, title }: { tone?: Tone; children: ReactNode; title?: string }) {
  return (
    <span
      title={title}
      className={cx("inline-flex items-center gap-1 whitespace-nowrap rounded-full border px-2 py-0.5 text-xs font-medium", TONES[tone])}
    >
      {children}
    </span>
  );
}

export function StatusDot({ tone, pulse = false, label }: { tone: Tone; pulse?: boolean; label?: string }) {
  const color: Record<Tone, string> = {
    neutral: "bg-muted",
    ok: "bg-ok",
    warn: "bg-warn",
    danger: "bg-danger",
    info: "bg-info",
    accent: "bg-accent",
  };
  return (
    <span className="relative inline-flex h-2.5 w-2.5" role={label ? "img" : undefined} aria-label={label} aria-hidden={label ? undefined : true}>
      {pulse && <span className={cx("absolute inline-flex h-full w-full animate-ping rounded-full opacity-60", color[tone])} />}
      <span className={cx("relative inline-flex h-2.5 w-2.5 rounded-full", color[tone])} />
    </span>
  );
}

export function Skeleton({ className }: { className?: string }) {
  return <div className={cx("skeleton h-4", className)} aria-hidden="true" />;
}

/** A block of skeleton rows with a label for screen readers. */
export function LoadingRows({ rows = 4, label = "Loading" }: { rows?: number; label?: string }) {
  return (
    <div role="status" aria-live="polite" className="space-y-3" data-testid="loading">
      <span className="sr-only">{label}…</span>
      {Array.from({ length: rows }, (_, i) => (
        <Skeleton key={i} className={cx("h-5", i % 3 === 2 ? "w-2/3" : "w-full")} />
      ))}
    </div>
  );
}

export function EmptyState({
  title,
  children,
  action,
  icon = "◇",
}: {
  title: string;
  children?: ReactNode;
  action?: ReactNode;
  icon?: ReactNode;
}) {
  return (
    <div className="flex flex-col items-center justify-center gap-2 px-4 py-8 text-center" data-testid="empty-state">
      <div className="text-2xl text-muted" aria-hidden="true">
        {icon}
      </div>
      <p className="font-medium text-text">{title}</p>
      {children && <div className="max-w-md text-sm text-muted">{children}</div>}
      {action && <div className="mt-2">{action}</div>}
    </div>
  );
}

export function ErrorState({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  return (
    <div role="alert" className="flex flex-col items-start gap-2 rounded-lg border border-danger/30 bg-danger/5 p-3 text-sm">
      <p className="text-danger">{errorMessage(error)}</p>
      {onRetry && (
        <Button size="sm" onClick={onRetry}>
          Try again
        </Button>
      )}
    </div>
  );
}

/** What a query's block shows: skeleton rows while it loads, its error with a retry (only when
 * there is no data to keep showing), the empty state when it has nothing, else `children`. */
export function QueryView({
  query,
  empty,
  rows,
  loadingLabel,
  padded = false,
  children,
}: {
  query: { isPending: boolean; isError: boolean; data: unknown; error: unknown; refetch: () => unknown };
  /** Shown instead of `children` when set: `empty={items.length === 0 && <EmptyState …/>}`. */
  empty?: ReactNode;
  rows?: number;
  loadingLabel?: string;
  /** In an unpadded card body (a table, a list): pad the loading and error states. */
  padded?: boolean;
  children: ReactNode;
}) {
  const pad = (node: ReactNode) => (padded ? <div className="p-4">{node}</div> : node);
  if (query.isPending) return pad(<LoadingRows rows={rows} label={loadingLabel} />);
  if (query.isError && !query.data) return pad(<ErrorState error={query.error} onRetry={() => void query.refetch()} />);
  if (empty) return empty;
  return children;
}

export function Stat({
  label,
  value,
  hint,
  loading = false,
  children,
  testId,
}: {
  label: string;
  value: ReactNode;
  hint?: ReactNode;
  loading?: boolean;
  children?: ReactNode;
  testId?: string;
}) {
  return (
    <div className="min-w-0 rounded-card border border-border bg-surface p-4 shadow-card" data-testid={testId}>
      <div className="text-xs font-medium uppercase tracking-wider text-muted">{label}</div>
      {loading ? (
        <Skeleton className="mt-2 h-7 w-24" />
      ) : (
        <div className="tabular mt-1 overflow-hidden text-ellipsis break-words text-2xl font-semibold leading-tight text-text xl:text-xl 2xl:text-2xl">{value}</div>
      )}
      {hint && <div className="mt-1 truncate text-xs text-muted">{hint}</div>}
      {children}
    </div>
  );
}

export function PageHeader({ title, subtitle, actions }: { title: string; subtitle?: ReactNode; actions?: ReactNode }) {
  return (
    <div className="mb-6 flex flex-wrap items-end justify-between gap-3">
      <div className="min-w-0">
        <h1 className="text-2xl font-semibold tracking-tight">{title}</h1>
        {subtitle && <p className="mt-1 text-sm text-muted">{subtitle}</p>}
      </div>
      {actions && <div className="flex flex-wrap items-center gap-2">{actions}</div>}
    </div>
  );
}

/** A time as "3 minutes ago", with the absolute UTC time on hover and for screen readers. */
export function Time({ ts, className }: { ts: number | null | undefined; className?: string }) {
  const now = useNow(5000);
  if (ts == null) return <span className={className}>—</span>;
  const absolute = formatAbsolute(ts);
  return (
    <time dateTime={new Date(ts * 1000).toISOString()} title={absolute} className={cx("whitespace-nowrap", className)}>
      {formatRelative(ts, now)}
    </time>
  );
}

const inputClass =
  "rounded-lg border border-border bg-bg px-3 py-2 text-sm text-text placeholder:text-muted/70 focus:border-accent focus:outline-none disabled:opacity-60";

export function Field({
  label,
  hint,
  error,
  children,
  htmlFor,
}: {
  label: string;
  hint?: ReactNode;
  error?: string | null;
  children: ReactNode;
  htmlFor: string;
}) {
  return (
    <div className="flex min-w-0 flex-col gap-1">
      <label htmlFor={htmlFor} className="text-xs font-medium text-muted">
        {label}
      </label>
      {children}
      {error ? (
        <p className="text-xs text-danger" role="alert">
          {error}
        </p>
      ) : (
        hint && <p className="text-xs text-muted">{hint}</p>
      )}
    </div>
  );
}

/** Full width unless the caller gives a width. */
const width = (className?: string) => (className && /(^|\s)w-/.test(className) ? "" : "w-full");

export function Input(props: ComponentProps<"input">) {
  return <input {...props} className={cx(inputClass, width(props.className), props.className)} />;
}

export function Select(props: ComponentProps<"select">) {
  return <select {...props} className={cx(inputClass, "pr-8", width(props.className), props.className)} />;
}

/** A modal on the native <dialog>: focus trap, Escape and backdrop handled by the browser. */
export function Dialog({
  open,
  onClose,
  title,
  children,
  footer,
  testId,
}: {
  open: boolean;
  onClose: () => void;
  title: string;
  children: ReactNode;
  footer?: ReactNode;
  testId?: string;
}) {
  const ref = useRef<HTMLDialogElement>(null);
  const titleId = useId();
  useEffect(() => {
    const dialog = ref.current;
    if (!dialog) return;
    if (open && !dialog.open) {
      if (typeof dialog.showModal === "function") dialog.showModal();
      else dialog.setAttribute("open", "");
    } else if (!open && dialog.open) {
      if (typeof dialog.close === "function") dialog.close();
      else dialog.removeAttribute("open");
    }
  }, [open]);
  return (
    <dialog
      ref={ref}
      aria-labelledby={titleId}
      data-testid={testId}
      onClose={onClose}
      onCancel={(event) => {
        event.preventDefault();
        onClose();
      }}
      className="m-auto w-[min(32rem,calc(100vw-2rem))] rounded-card border border-border bg-surface p-0 text-text shadow-card backdrop:bg-black/60"
    >
      {open && (
        <div className="flex max-h-[85vh] flex-col">
          <header className="flex items-center justify-between border-b border-border px-5 py-3">
            <h2 id={titleId} className="font-semibold">
              {title}
            </h2>
            <button type="button" onClick={onClose} className="rounded p-1 text-muted hover:text-text" aria-label="Close">
              ✕
            </button>
          </header>
          <div className="overflow-y-auto px-5 py-4">{children}</div>
          {footer && <footer className="flex flex-wrap justify-end gap-2 border-t border-border px-5 py-3">{footer}</footer>}
        </div>
      )}
    </dialog>
  );
}

/** Text to copy: a command, an id. `display` may mask secrets shown on screen. */
export function CopyBlock({ text, display, label }: { text: string; display?: string; label: string }) {
  const [copied, setCopied] = useState(false);
  useEffect(() => {
    if (!copied) return;
    const id = setTimeout(() => setCopied(false), 1500);
    return () => clearTimeout(id);
  }, [copied]);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setCopied(true);
    } catch {
      setCopied(false);
    }
  };
  return (
    <div className="flex min-w-0 items-start gap-2 rounded-lg border border-border bg-bg">
      <pre className="min-w-0 flex-1 overflow-x-auto px-3 py-2.5 font-mono text-xs leading-relaxed text-text">
        <code>{display ?? text}</code>
      </pre>
      <button
        type="button"
        onClick={() => void copy()}
        aria-label={`Copy ${label}`}
        className="m-1.5 shrink-0 rounded-md border border-border bg-surface-2 px-2 py-1 text-xs text-muted hover:text-text"
      >
        {copied ? "Copied" : "Copy"}
      </button>
      <span className="sr-only" aria-live="polite">
        {copied ? `${label} copied` : ""}
      </span>
    </div>
  );
}

/** A horizontal meter (0..1) with an optional marker (e.g. the 90% delivery threshold). */
export function Meter({
  value,
  marker,
  label,
  tone = "accent",
}: {
  value: number | null;
  marker?: number;
  label: string;
  tone?: "accent" | "warn" | "danger";
}) {
  const pct = value == null ? 0 : Math.max(0, Math.min(1, value)) * 100;
  const fill = { accent: "bg-accent", warn: "bg-warn", danger: "bg-danger" }[tone];
  return (
    <div
      className="relative h-2 w-full overflow-hidden rounded-full bg-surface-2"
      role="meter"
      aria-label={label}
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={Math.round(pct)}
    >
      <div className={cx("h-full rounded-full transition-[width] duration-500", fill)} style={{ width: `${pct}%` }} />
      {marker != null && (
        <div className="absolute top-0 h-full w-0.5 bg-text/60" style={{ left: `${Math.min(100, marker * 100)}%` }} aria-hidden="true" />
      )}
    </div>
  );
}

export function LoadMore({
  hasNext,
  loading,
  onClick,
}: {
  hasNext: boolean;
  loading: boolean;
  onClick: () => void;
}) {
  if (!hasNext) return null;
  return (
    <div className="mt-3 flex justify-center">
      <Button size="sm" onClick={onClick} busy={loading}>
        Load more
      </Button>
    </div>
  );
}
