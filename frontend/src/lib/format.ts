/**
 * Formatting for people. Money arrives as integer micro-credits (1 credit = 1,000,000) and
 * is never turned into a float on the way in or out; hashrates are H/s floats.
 */

export const MICRO_PER_CREDIT = 1_000_000;
const MICRO_DIGITS = 6;

const HASH_UNITS = ["H/s", "kH/s", "MH/s", "GH/s", "TH/s", "PH/s"] as const;

/** 1234.5 → "1.23 kH/s"; 0 → "0 H/s"; three significant digits above 1 kH/s. */
export function formatHashrate(hs: number | null | undefined): string {
  if (hs == null || !Number.isFinite(hs)) return "—";
  if (hs <= 0) return "0 H/s";
  let value = hs;
  let unit = 0;
  while (value >= 1000 && unit < HASH_UNITS.length - 1) {
    value /= 1000;
    unit += 1;
  }
  let digits = value < 10 ? 2 : value < 100 ? 1 : 0;
  // 999.96 kH/s rounds to "1000 kH/s": say "1 MH/s" instead.
  if (Number(value.toFixed(digits)) >= 1000 && unit < HASH_UNITS.length - 1) {
    value /= 1000;
    unit += 1;
    digits = 2;
  }
  return `${trimZeros(value.toFixed(digits))} ${HASH_UNITS[unit]}`;
}

function trimZeros(text: string): string {
  return text.includes(".") ? text.replace(/\.?0+$/, "") : text;
}

function groupThousands(digits: string): string {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/**
 * Micro-credits as credits: 12_500_000 → "12.5", 1_234_000_000 → "1,234", 1 → "0.000001".
 * `maxDecimals` rounds (half away from zero) for compact displays.
 */
export function formatCredits(
  micro: number | null | undefined,
  { maxDecimals = MICRO_DIGITS, sign = false }: { maxDecimals?: number; sign?: boolean } = {},
): string {
  if (micro == null || !Number.isFinite(micro)) return "—";
  const negative = micro < 0;
  let abs = Math.abs(Math.round(micro));
  const drop = MICRO_DIGITS - Math.max(0, Math.min(MICRO_DIGITS, maxDecimals));
  if (drop > 0) {
    const step = 10 ** drop;
    abs = Math.round(abs / step) * step;
  }
  const whole = Math.floor(abs / MICRO_PER_CREDIT);
  const frac = (abs % MICRO_PER_CREDIT).toString().padStart(MICRO_DIGITS, "0");
  const fracText = frac.slice(0, MICRO_DIGITS - drop).replace(/0+$/, "");
  const body = groupThousands(whole.toString()) + (fracText ? `.${fracText}` : "");
  const isZero = abs === 0;
  if (negative && !isZero) return `−${body}`;
  if (sign && !isZero) return `+${body}`;
  return body;
}

/**
 * A token's integer units (a decimal string, any size) as whole tokens, every digit kept:
 * ("25000000", 6) → "25", ("1000000000000000001", 18) → "1.000000000000000001".
 */
export function formatTokenUnits(units: string, decimals: number): string {
  if (!/^\d+$/.test(units) || !Number.isInteger(decimals) || decimals < 0) return units;
  const digits = units.replace(/^0+(?=\d)/, "").padStart(decimals + 1, "0");
  const whole = digits.slice(0, digits.length - decimals);
  const frac = digits.slice(digits.length - decimals).replace(/0+$/, "");
  return groupThousands(whole) + (frac ? `.${frac}` : "");
}

/**
 * Wei (a decimal string, any size) as the chain's coin, cut (not rounded) to `maxDecimals`:
 * "12345000000000000" → "0.012345"; a balance under the last digit shown reads "<0.000001".
 */
export function formatWei(wei: string | null | undefined, maxDecimals = 6): string {
  if (wei == null || !/^\d+$/.test(wei)) return "—";
  const full = formatTokenUnits(wei, 18);
  const [whole = "0", frac = ""] = full.split(".");
  const cut = frac.slice(0, Math.max(0, maxDecimals)).replace(/0+$/, "");
  if (whole === "0" && cut === "" && /[1-9]/.test(wei)) return `<${maxDecimals > 0 ? `0.${"0".repeat(maxDecimals - 1)}1` : "1"}`;
  return whole + (cut ? `.${cut}` : "");
}

/** "12.5" → 12_500_000; "1,000" → 1_000_000_000. Null when it is not a credit amount. */
export function parseCredits(text: string): number | null {
  const cleaned = text.trim().replace(/[,_\s]/g, "");
  const match = /^(\d*)(?:\.(\d*))?$/.exec(cleaned);
  if (!match || cleaned === "" || cleaned === ".") return null;
  const whole = match[1] ?? "";
  const frac = match[2] ?? "";
  if (frac.length > MICRO_DIGITS) return null;
  const micro = Number(whole || "0") * MICRO_PER_CREDIT + Number(frac.padEnd(MICRO_DIGITS, "0"));
  return Number.isSafeInteger(micro) ? micro : null;
}

/** A price per hour in micro-credits: "0.25 cr/h". */
export function formatPricePerHour(micro: number | null | undefined): string {
  if (micro == null) return "—";
  return `${formatCredits(micro, { maxDecimals: 4 })} cr/h`;
}

/** Micro-credits per hour per kH/s (a float from the price index) → "0.0123 cr/kH/s·h". */
export function formatPricePerKhs(microPerKhsHour: number | null | undefined): string {
  if (microPerKhsHour == null || !Number.isFinite(microPerKhsHour)) return "—";
  const credits = microPerKhsHour / MICRO_PER_CREDIT;
  const digits = credits >= 100 ? 0 : credits >= 1 ? 2 : 4;
  return `${trimZeros(credits.toFixed(digits))} cr/kH/s·h`;
}

export function formatNumber(value: number | null | undefined, maxDecimals = 0): string {
  if (value == null || !Number.isFinite(value)) return "—";
  return value.toLocaleString("en-US", { maximumFractionDigits: maxDecimals });
}

export function formatPercent(ratio: number | null | undefined, decimals = 0): string {
  if (ratio == null || !Number.isFinite(ratio)) return "—";
  return `${(ratio * 100).toFixed(decimals)}%`;
}

/** Seconds as "2h 5m", "45s", "3d 4h". */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds == null || !Number.isFinite(seconds)) return "—";
  let s = Math.max(0, Math.round(seconds));
  const d = Math.floor(s / 86_400);
  s -= d * 86_400;
  const h = Math.floor(s / 3600);
  s -= h * 3600;
  const m = Math.floor(s / 60);
  s -= m * 60;
  if (d > 0) return h > 0 ? `${d}d ${h}h` : `${d}d`;
  if (h > 0) return m > 0 ? `${h}h ${m}m` : `${h}h`;
  if (m > 0) return s > 0 && m < 10 ? `${m}m ${s}s` : `${m}m`;
  return `${s}s`;
}

const RELATIVE_STEPS: [limit: number, divisor: number, unit: Intl.RelativeTimeFormatUnit][] = [
  [60, 1, "second"],
  [3600, 60, "minute"],
  [86_400, 3600, "hour"],
  [7 * 86_400, 86_400, "day"],
  [30 * 86_400, 7 * 86_400, "week"],
  [365 * 86_400, 30 * 86_400, "month"],
  [Infinity, 365 * 86_400, "year"],
];
const relativeFormat = new Intl.RelativeTimeFormat("en", { numeric: "auto" });

/** Epoch seconds relative to `now` (epoch seconds): "3 minutes ago", "in 2 hours", "now". */
export function formatRelative(epochSeconds: number | null | undefined, now: number): string {
  if (epochSeconds == null || !Number.isFinite(epochSeconds)) return "—";
  const delta = epochSeconds - now;
  const abs = Math.abs(delta);
  if (abs < 5) return "just now";
  for (const [limit, divisor, unit] of RELATIVE_STEPS) {
    if (abs < limit) return relativeFormat.format(Math.trunc(delta / divisor), unit);
  }
  return "—";
}

/** Epoch seconds as an absolute UTC time: "2026-11-21 18:05:17 UTC". */
export function formatAbsolute(epochSeconds: number | null | undefined): string {
  if (epochSeconds == null || !Number.isFinite(epochSeconds)) return "—";
  const iso = new Date(epochSeconds * 1000).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC`;
}

/** "0x1234…abcd". */
export function shortAddress(address: string | null | undefined, chars = 4): string {
  if (!address) return "—";
  if (address.length <= 2 + chars * 2 + 1) return address;
  return `${address.slice(0, 2 + chars)}…${address.slice(-chars)}`;
}

/** A long id or hash shortened in the middle. */
export function shortId(id: string | null | undefined, head = 8, tail = 4): string {
  if (!id) return "—";
  return id.length <= head + tail + 1 ? id : `${id.slice(0, head)}…${id.slice(-tail)}`;
}

export function formatTemperature(celsius: number | null | undefined): string {
  if (celsius == null || !Number.isFinite(celsius)) return "—";
  return `${Math.round(celsius)} °C`;
}

export function formatPower(watts: number | null | undefined): string {
  if (watts == null || !Number.isFinite(watts)) return "—";
  return `${Math.round(watts)} W`;
}

/** Delivered / advertised as a ratio, or null when there is nothing advertised. */
export function deliveryRatio(delivered: number, advertised: number): number | null {
  if (!Number.isFinite(delivered) || !Number.isFinite(advertised) || advertised <= 0) return null;
  return delivered / advertised;
}

/** Text for a ledger entry kind. */
export function entryKindLabel(kind: string): string {
  return kind.replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase());
}
