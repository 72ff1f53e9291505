/** The signed-in session (the API's JWT), kept in localStorage so a reload stays signed in. */

export interface Session {
  token: string;
  address: string;
  isAdmin: boolean;
  /** Epoch seconds when the token stops working. */
  expiresAt: number;
}

const STORAGE_KEY = "xenblocks.session";

type Listener = () => void;

function isSession(value: unknown): value is Session {
  if (!value || typeof value !== "object") return false;
  const s = value as Record<string, unknown>;
  return (
    typeof s.token === "string" &&
    typeof s.address === "string" &&
    typeof s.isAdmin === "boolean" &&
    typeof s.expiresAt === "number"
  );
}

export class SessionStore {
  private session: Session | null;
  private readonly listeners = new Set<Listener>();
  private readonly storage: Storage | null;
  private readonly clock: () => number;

  constructor(storage: Storage | null = safeStorage(), clock: () => number = () => Date.now() / 1000) {
    this.storage = storage;
    this.clock = clock;
    this.session = this.read();
    if (typeof window !== "undefined") {
      // Another tab signed in or out.
      window.addEventListener("storage", (event) => {
        if (event.key === STORAGE_KEY) {
          this.session = this.read();
          this.emit();
        }
      });
    }
  }

  private read(): Session | null {
    try {
      const raw = this.storage?.getItem(STORAGE_KEY);
      if (!raw) return null;
      const parsed: unknown = JSON.parse(raw);
      if (!isSession(parsed) || parsed.expiresAt <= this.clock()) return null;
      return parsed;
    } catch {
      return null;
    }
  }

  private emit(): void {
    for (const listener of this.listeners) listener();
  }

  subscribe = (listener: Listener): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  /** The session, or null when signed out or expired. */
  get = (): Session | null => {
    if (this.session && this.session.expiresAt <= this.clock()) {
      this.clear();
    }
    return this.session;
  };

  token = (): string | null => this.get()?.token ?? null;

  set(session: Session): void {
    this.session = session;
    try {
      this.storage?.setItem(STORAGE_KEY, JSON.stringify(session));
    } catch {
      // private mode: the session lasts this tab
    }
    this.emit();
  }

  clear(): void {
    if (this.session === null) return;
    this.session = null;
    try {
      this.storage?.removeItem(STORAGE_KEY);
    } catch {
      // ignore
    }
    this.emit();
  }
}

function safeStorage(): Storage | null {
  try {
    return typeof window !== "undefined" ? window.localStorage : null;
  } catch {
    return null;
  }
}
