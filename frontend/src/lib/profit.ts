/** How the profit figures (`/api/profit`, `/api/workers/{id}/profit`) read: money in the
 * owner's terms, and energy that is unknown (reported without a power reading) shown as
 * unknown, never as zero. */
import type { FiguresOut } from "../api/types";
import { formatCredits, formatNumber } from "./format";

/** The window the dashboard asks for, in UTC days (today so far included). */
export const PROFIT_DAYS = 7;

/** Money in credits (micro-credits from the API); the power cost in the owner's currency. */
export function formatMoney(micro: number | null, currency = "cr"): string {
  if (micro == null) return "—";
  return `${formatCredits(micro, { maxDecimals: 2 })} ${currency}`;
}

/** Reported without a single power reading: the energy is unknown, not zero. */
export function unmetered(f: FiguresOut): boolean {
  return f.metered_seconds === 0 && f.reported_seconds > 0;
}

export function formatEnergy(f: FiguresOut): string {
  return f.energy_kwh == null || unmetered(f) ? "—" : `${formatNumber(f.energy_kwh, 2)} kWh`;
}

export function formatPowerCost(f: FiguresOut, currency: string): string {
  return unmetered(f) ? "—" : formatMoney(f.power_cost, currency);
}

export function meteredHint(f: FiguresOut): string {
  if (f.power_complete) return "every second metered";
  return unmetered(f) ? "no power readings" : "some seconds without a power reading";
}
