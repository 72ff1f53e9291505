import { describe, expect, it } from "vitest";
import {
  deliveryRatio,
  entryKindLabel,
  formatAbsolute,
  formatCredits,
  formatDuration,
  formatHashrate,
  formatPercent,
  formatPricePerHour,
  formatPricePerKhs,
  formatRelative,
  formatTemperature,
  formatTokenUnits,
  formatWei,
  parseCredits,
  shortAddress,
  shortId,
} from "./format";

describe("formatHashrate", () => {
  it.each([
    [0, "0 H/s"],
    [-5, "0 H/s"],
    [1, "1 H/s"],
    [12.345, "12.3 H/s"],
    [999, "999 H/s"],
    [1000, "1 kH/s"],
    [1234.5, "1.23 kH/s"],
    [56_789, "56.8 kH/s"],
    [999_960, "1 MH/s"],
    [2_500_000, "2.5 MH/s"],
    [3.2e9, "3.2 GH/s"],
    [7e15, "7 PH/s"],
  ])("%s H/s → %s", (hs, text) => {
    expect(formatHashrate(hs)).toBe(text);
  });

  it("shows a dash for nothing", () => {
    expect(formatHashrate(null)).toBe("—");
    expect(formatHashrate(undefined)).toBe("—");
    expect(formatHashrate(Number.NaN)).toBe("—");
  });
});

describe("formatCredits", () => {
  it.each([
    [0, "0"],
    [1, "0.000001"],
    [12_500_000, "12.5"],
    [1_000_000, "1"],
    [1_234_000_000, "1,234"],
    [1_234_567_891, "1,234.567891"],
    [-2_500_000, "−2.5"],
  ])("%s micro → %s", (micro, text) => {
    expect(formatCredits(micro)).toBe(text);
  });

  it("rounds to fewer decimals when asked", () => {
    expect(formatCredits(1_234_567, { maxDecimals: 2 })).toBe("1.23");
    expect(formatCredits(1_235_000, { maxDecimals: 2 })).toBe("1.24");
    expect(formatCredits(999_999, { maxDecimals: 2 })).toBe("1");
    expect(formatCredits(1_500_000, { maxDecimals: 0 })).toBe("2");
  });

  it("signs on request", () => {
    expect(formatCredits(2_000_000, { sign: true })).toBe("+2");
    expect(formatCredits(-2_000_000, { sign: true })).toBe("−2");
    expect(formatCredits(0, { sign: true })).toBe("0");
  });

  it("keeps the largest exact amounts exact", () => {
    expect(formatCredits(2 ** 53 - 1)).toBe("9,007,199,254.740991");
  });
});

describe("parseCredits", () => {
  it.each([
    ["12.5", 12_500_000],
    ["1", 1_000_000],
    ["0.000001", 1],
    ["1,000", 1_000_000_000],
    [" 3 ", 3_000_000],
    [".5", 500_000],
    ["7.", 7_000_000],
  ])("%s → %s micro", (text, micro) => {
    expect(parseCredits(text)).toBe(micro);
  });

  it.each(["", ".", "abc", "1.0000001", "-1", "1e3", "1.2.3"])("refuses %j", (text) => {
    expect(parseCredits(text)).toBeNull();
  });

  it("round-trips with formatCredits", () => {
    for (const micro of [1, 999_999, 12_345_678, 1_000_000_000_000]) {
      expect(parseCredits(formatCredits(micro))).toBe(micro);
    }
  });
});

describe("prices", () => {
  it("formats per hour and per kH/s-hour", () => {
    expect(formatPricePerHour(250_000)).toBe("0.25 cr/h");
    expect(formatPricePerHour(123_456)).toBe("0.1235 cr/h");
    expect(formatPricePerKhs(12_345.6)).toBe("0.0123 cr/kH/s·h");
    expect(formatPricePerKhs(2_500_000)).toBe("2.5 cr/kH/s·h");
    expect(formatPricePerKhs(null)).toBe("—");
  });
});

describe("times", () => {
  const now = 1_700_000_000;
  it.each([
    [now, "just now"],
    [now - 30, "30 seconds ago"],
    [now - 90, "1 minute ago"],
    [now - 3 * 3600, "3 hours ago"],
    [now - 86_400, "yesterday"],
    [now + 7200, "in 2 hours"],
    [now - 40 * 86_400, "last month"],
  ])("%s relative to now → %s", (ts, text) => {
    expect(formatRelative(ts, now)).toBe(text);
  });

  it("formats absolute times in UTC", () => {
    expect(formatAbsolute(0)).toBe("1970-01-01 00:00:00 UTC");
    expect(formatAbsolute(1_700_000_000)).toBe("2023-11-14 22:13:20 UTC");
    expect(formatAbsolute(null)).toBe("—");
  });

  it.each([
    [0, "0s"],
    [45, "45s"],
    [125, "2m 5s"],
    [600, "10m"],
    [3600, "1h"],
    [5400, "1h 30m"],
    [86_400 * 2 + 3600 * 4, "2d 4h"],
    [7 * 86_400, "7d"],
  ])("duration %s s → %s", (seconds, text) => {
    expect(formatDuration(seconds)).toBe(text);
  });
});

describe("small things", () => {
  it("shortens addresses and ids", () => {
    expect(shortAddress("0x1234567890abcdef1234567890abcdef12345678")).toBe("0x1234…5678");
    expect(shortAddress(null)).toBe("—");
    expect(shortId("abcdefghijklmnopqrstuvwxyz")).toBe("abcdefgh…wxyz");
    expect(shortId("short")).toBe("short");
  });

  it("formats percentages, temperatures and ratios", () => {
    expect(formatPercent(0.923)).toBe("92%");
    expect(formatPercent(0.923, 1)).toBe("92.3%");
    expect(formatPercent(null)).toBe("—");
    expect(formatTemperature(71.6)).toBe("72 °C");
    expect(deliveryRatio(900, 1000)).toBe(0.9);
    expect(deliveryRatio(900, 0)).toBeNull();
  });

  it("labels ledger kinds", () => {
    expect(entryKindLabel("withdrawal_hold")).toBe("Withdrawal hold");
    expect(entryKindLabel("payout")).toBe("Payout");
  });
});

describe("formatTokenUnits", () => {
  it.each([
    ["25000000", 6, "25"],
    ["25500000", 6, "25.5"],
    ["1", 6, "0.000001"],
    ["1000000000000000001", 18, "1.000000000000000001"],
    ["1234000000000000000000", 18, "1,234"],
    ["0", 18, "0"],
    ["42", 0, "42"],
    ["not units", 6, "not units"],
  ] as const)("%s units of a %i-decimal token → %s", (units, decimals, shown) => {
    expect(formatTokenUnits(units, decimals)).toBe(shown);
  });
});

describe("formatWei", () => {
  it.each([
    ["10000000000000000", "0.01"], // the local hot wallet's alarm floor, 10**16
    ["12345678900000000", "0.012345"], // cut, not rounded: never more than it holds
    ["1999999999999999999", "1.999999"],
    ["1234000000000000000000", "1,234"],
    ["0", "0"],
    ["999999999999", "<0.000001"], // under the last digit shown, but not nothing
    ["-5", "—"],
  ] as const)("%s wei → %s", (wei, shown) => {
    expect(formatWei(wei)).toBe(shown);
  });

  it("shows nothing for a balance not read yet, and as many decimals as asked", () => {
    expect(formatWei(null)).toBe("—");
    expect(formatWei("1500000000000000000", 0)).toBe("1");
    expect(formatWei("1", 0)).toBe("<1");
    expect(formatWei("123456789", 18)).toBe("0.000000000123456789");
  });
});
