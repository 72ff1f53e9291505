/** Toasts: a tiny store any code can push to (query error handlers live outside React). */

export type ToastKind = "error" | "success" | "info" | "warning";

export interface Toast {
  id: number;
  kind: ToastKind;
  title: string;
  message?: string;
  /** ms; 0 keeps it until dismissed. */
  duration: number;
}

type Listener = () => void;

const DEFAULT_DURATION: Record<ToastKind, number> = {
  error: 8000,
  warning: 7000,
  success: 4000,
  info: 5000,
};
const MAX_VISIBLE = 5;

export class ToastStore {
  private toasts: Toast[] = [];
  private nextId = 1;
  private readonly listeners = new Set<Listener>();
  private readonly timers = new Map<number, ReturnType<typeof setTimeout>>();

  subscribe = (listener: Listener): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  getToasts = (): Toast[] => this.toasts;

  private emit(): void {
    for (const listener of this.listeners) listener();
  }

  push(kind: ToastKind, title: string, message?: string, duration?: number): number {
    // The same message already showing (a refetch failing again): don't stack it.
    const same = this.toasts.find((t) => t.kind === kind && t.title === title && t.message === message);
    if (same) return same.id;
    const toast: Toast = { id: this.nextId++, kind, title, message, duration: duration ?? DEFAULT_DURATION[kind] };
    this.toasts = [...this.toasts, toast].slice(-MAX_VISIBLE);
    if (toast.duration > 0) {
      this.timers.set(
        toast.id,
        setTimeout(() => this.dismiss(toast.id), toast.duration),
      );
    }
    this.emit();
    return toast.id;
  }

  dismiss(id: number): void {
    const timer = this.timers.get(id);
    if (timer) clearTimeout(timer);
    this.timers.delete(id);
    const next = this.toasts.filter((t) => t.id !== id);
    if (next.length !== this.toasts.length) {
      this.toasts = next;
      this.emit();
    }
  }

  error(title: string, message?: string): number {
    return this.push("error", title, message);
  }
  success(title: string, message?: string): number {
    return this.push("success", title, message);
  }
  info(title: string, message?: string): number {
    return this.push("info", title, message);
  }
  warning(title: string, message?: string): number {
    return this.push("warning", title, message);
  }
}

export const toasts = new ToastStore();
