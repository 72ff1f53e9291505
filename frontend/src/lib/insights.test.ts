import { describe, expect, it } from "vitest";
import { evidenceLabel, formatEfficiency, formatEvidence, formatWork, reasonLabel } from "./insights";

describe("insights wording", () => {
  it("names reasons and evidence figures, per GPU too", () => {
    expect(reasonLabel("power_limit_lowered")).toBe("Power limit lowered");
    expect(reasonLabel("something_new")).toBe("Something new");
    expect(evidenceLabel("usual_power_w")).toBe("Usual power");
    expect(evidenceLabel("gpu2.work_ratio")).toBe("GPU 2: work vs usual");
    expect(evidenceLabel("brand_new_figure")).toBe("Brand new figure");
  });

  it("gives each figure its unit by its name", () => {
    expect(formatEvidence("work_ratio", 0.8123)).toBe("81.2%");
    expect(formatEvidence("gpu0.work_ratio", 0.5)).toBe("50.0%");
    expect(formatEvidence("fan_pct", 41.6)).toBe("42%");
    expect(formatEvidence("expected_temperature_c", 78.4)).toBe("78 °C");
    expect(formatEvidence("usual_power_w", 301.2)).toBe("301 W");
    expect(formatEvidence("peer_work", 2048)).toBe("2 MiB/s");
    expect(formatEvidence("advertised_hashrate", 2450)).toBe("2.45 kH/s");
    expect(formatEvidence("median", 250_000)).toBe("0.25 cr/kH/s·h");
    expect(formatEvidence("difficulty", 120_000)).toBe("120,000 KiB");
    expect(formatEvidence("gpus_seen", 3)).toBe("3");
    expect(formatEvidence("score", 4.567)).toBe("4.57");
  });

  it("work in KiB/s with binary prefixes, work per watt in KiB/J", () => {
    expect(formatWork(512)).toBe("512 KiB/s");
    expect(formatWork(19_600)).toBe("19.1 MiB/s");
    expect(formatWork(null)).toBe("—");
    expect(formatEfficiency(68.54)).toBe("68.5 KiB/J");
    expect(formatEfficiency(2.345)).toBe("2.35 KiB/J");
    expect(formatEfficiency(null)).toBe("—");
  });
});
