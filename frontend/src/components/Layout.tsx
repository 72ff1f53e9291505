import { useEffect, useRef, useState } from "react";
import { NavLink, Outlet, useLocation } from "react-router";
import { useAccount } from "../api/queries";
import { useConfig, useSession } from "../app/context";
import { useSignOut } from "../auth/useSignIn";
import { formatCredits, shortAddress } from "../lib/format";
import { SignInButton } from "./Auth";
import { ConnectionIndicator } from "./ConnectionIndicator";
import { AppIcon } from "./icons";
import { Toaster } from "./Toaster";
import { cx } from "../lib/cx";

const NAV = [
  { to: "/", label: "Overview", icon: <AppIcon name="overview" />, end: true },
  { to: "/monitoring", label: "Monitoring", icon: <AppIcon name="monitoring" /> },
  { to: "/marketplace", label: "Marketplace", icon: <AppIcon name="marketplace" /> },
  { to: "/renter", label: "My rentals", icon: <AppIcon name="rentals" /> },
  { to: "/provider", label: "Provider", icon: <AppIcon name="provider" /> },
  { to: "/insights", label: "Insights", icon: <AppIcon name="insights" /> },
  { to: "/alerts", label: "Alerts", icon: <AppIcon name="alerts" /> },
  { to: "/account", label: "Account", icon: <AppIcon name="account" /> },
];

function ThemeToggle() {
  const [light, setLight] = useState(() => document.documentElement.classList.contains("light"));
  useEffect(() => {
    const root = document.documentElement;
    root.classList.toggle("light", light);
    root.classList.toggle("dark", !light);
    try {
      localStorage.setItem("xenblocks.theme", light ? "light" : "dark");
    } catch {
      // ignore
    }
  }, [light]);
  return (
    <button
      type="button"
      onClick={() => setLight((v) => !v)}
      className="rounded-lg p-2 text-muted hover:bg-surface-2 hover:text-text"
      aria-label={light ? "Switch to dark theme" : "Switch to light theme"}
      title={light ? "Dark theme" : "Light theme"}
    >
      <span aria-hidden="true">{light ? "☾" : "☀"}</span>
    </button>
  );
}

function AccountChip() {
  const session = useSession();
  const account = useAccount();
  const signOut = useSignOut();
  if (!session) return <SignInButton size="sm" label="Sign in" />;
  return (
    <div className="flex items-center gap-2" data-testid="account-chip" data-address={session.address}>
      <NavLink
        to="/account"
        className="flex items-center gap-2 rounded-lg border border-border bg-surface-2 px-2.5 py-1 text-xs hover:border-muted"
        title={session.address}
      >
        <span className="tabular font-medium text-text" data-testid="header-balance">
          {account.data ? `${formatCredits(account.data.balance, { maxDecimals: 2 })} cr` : "…"}
        </span>
        <span className="hidden font-mono text-muted sm:inline">{shortAddress(session.address)}</span>
      </NavLink>
      <button type="button" onClick={signOut} className="hidden rounded px-1.5 py-1 text-xs text-muted hover:text-text md:inline">
        Sign out
      </button>
    </div>
  );
}

function NavItems({ onNavigate }: { onNavigate?: () => void }) {
  return (
    <ul className="flex flex-col gap-1">
      {NAV.map((item) => (
        <li key={item.to}>
          <NavLink
            to={item.to}
            end={item.end}
            onClick={onNavigate}
            className={({ isActive }) =>
              cx(
                "flex items-center gap-3 rounded-lg px-3 py-2 text-sm transition-colors",
                isActive ? "bg-accent/10 font-medium text-accent" : "text-muted hover:bg-surface-2 hover:text-text",
              )
            }
          >
            {item.icon}
            {item.label}
          </NavLink>
        </li>
      ))}
    </ul>
  );
}

export function Layout() {
  const config = useConfig();
  const [menuOpen, setMenuOpen] = useState(false);
  const location = useLocation();
  const firstRender = useRef(true);
  useEffect(() => {
    // After a navigation the new page gets focus at its top (keyboard and screen-reader
    // users); a fresh load leaves focus at the start, where the skip link is.
    if (firstRender.current) {
      firstRender.current = false;
      return;
    }
    document.getElementById("main")?.focus({ preventScroll: true });
    window.scrollTo(0, 0);
  }, [location.pathname]);
  useEffect(() => {
    if (!menuOpen) return;
    const onKey = (event: KeyboardEvent) => {
      if (event.key === "Escape") setMenuOpen(false);
    };
    window.addEventListener("keydown", onKey);
    return () => window.removeEventListener("keydown", onKey);
  }, [menuOpen]);

  return (
    <div className="min-h-dvh">
      <a
        href="#main"
        className="sr-only z-50 rounded bg-accent px-3 py-2 text-accent-fg focus:not-sr-only focus:fixed focus:left-3 focus:top-3"
      >
        Skip to content
      </a>
      <header className="sticky top-0 z-30 border-b border-border bg-bg/85 backdrop-blur">
        <div className="mx-auto flex h-14 max-w-[1400px] items-center gap-3 px-4">
          <button
            type="button"
            className="rounded-lg p-2 text-muted hover:bg-surface-2 hover:text-text lg:hidden"
            aria-label={menuOpen ? "Close menu" : "Open menu"}
            aria-expanded={menuOpen}
            aria-controls="mobile-nav"
            onClick={() => setMenuOpen((v) => !v)}
          >
            <span aria-hidden="true">{menuOpen ? "✕" : "☰"}</span>
          </button>
          <NavLink to="/" className="flex items-center gap-2 font-semibold tracking-tight">
            <img src="/favicon.svg" alt="" className="h-6 w-6" />
            <span className="hidden sm:inline">XenBlocks Hashpower</span>
          </NavLink>
          {config.stage && config.stage !== "prod" && (
            <span className="hidden rounded border border-warn/40 px-1.5 py-0.5 text-[10px] font-semibold uppercase tracking-wider text-warn sm:inline">
              {config.stage}
            </span>
          )}
          <div className="ml-auto flex items-center gap-2 sm:gap-3">
            <ConnectionIndicator compact />
            <ThemeToggle />
            <AccountChip />
          </div>
        </div>
        {menuOpen && (
          <nav id="mobile-nav" aria-label="Main" className="border-t border-border bg-bg px-4 py-3 lg:hidden">
            <NavItems onNavigate={() => setMenuOpen(false)} />
          </nav>
        )}
      </header>
      <div className="mx-auto flex max-w-[1400px] gap-6 px-4">
        <nav aria-label="Main" className="sticky top-14 hidden h-[calc(100dvh-3.5rem)] w-52 shrink-0 py-6 lg:block">
          <NavItems />
        </nav>
        <main id="main" tabIndex={-1} className="min-w-0 flex-1 py-6 outline-none">
          <Outlet />
        </main>
      </div>
      <Toaster />
    </div>
  );
}
