/** Runtime configuration: `/config.json`, written by the platform (or CloudFront's origin). */

export interface AppConfig {
  /** The API origin, without a trailing slash and without `/api`. */
  apiUrl: string;
  /** The WebSocket URL for live updates; null when this deployment has none. */
  wsUrl: string | null;
  region: string;
  stage: string;
  chainId: number;
  /** Whether this deployment takes stablecoin deposits on chain (`deposits` in config.json;
   * absent means off), so the Account page asks for a deposit address only where it has one
   * and never meets the API's 404. */
  deposits: boolean;
  /** Whether withdrawals are paid on chain by the payouts job (`withdrawals_on_chain`;
   * absent means an admin pays them by hand). */
  withdrawalsOnChain: boolean;
  /** Micro-credits up to which a withdrawal on chain is paid without an admin
   * (`withdrawal_auto_max`); null when not on chain or not said. */
  withdrawalAutoMax: number | null;
}

export class ConfigError extends Error {}

function str(value: unknown): string | null {
  return typeof value === "string" ? value : null;
}

/** Validates the JSON and fills what can be defaulted from the page's own origin. */
export function parseConfig(raw: unknown, origin: string): AppConfig {
  if (raw === null || typeof raw !== "object") throw new ConfigError("config.json is not an object");
  const body = raw as Record<string, unknown>;
  const apiUrlRaw = str(body.api_url);
  if (apiUrlRaw === null) throw new ConfigError("config.json has no api_url");
  const apiUrl = (apiUrlRaw.trim() || origin).replace(/\/+$/, "").replace(/\/api$/, "");
  const wsRaw = str(body.ws_url)?.trim() ?? "";
  const chain = body.chain_id;
  const onChain = body.withdrawals_on_chain === true;
  const autoMax = body.withdrawal_auto_max;
  return {
    apiUrl,
    wsUrl: wsRaw ? wsRaw : null,
    region: str(body.region) ?? "",
    stage: str(body.stage) ?? "",
    chainId: typeof chain === "number" && Number.isInteger(chain) ? chain : 1,
    deposits: body.deposits === true,
    withdrawalsOnChain: onChain,
    withdrawalAutoMax: onChain && typeof autoMax === "number" && Number.isSafeInteger(autoMax) && autoMax >= 0 ? autoMax : null,
  };
}

export async function loadConfig(fetcher: typeof fetch = fetch): Promise<AppConfig> {
  const response = await fetcher("/config.json", { cache: "no-store" });
  if (!response.ok) throw new ConfigError(`could not load /config.json (HTTP ${response.status})`);
  let raw: unknown;
  try {
    raw = await response.json();
  } catch {
    throw new ConfigError("/config.json is not valid JSON");
  }
  return parseConfig(raw, window.location.origin);
}
