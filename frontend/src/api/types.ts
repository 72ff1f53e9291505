/** Names for the API's bodies, from the OpenAPI (src/api/schema.d.ts, `npm run gen:api`). */
import type { components } from "./schema";

type S = components["schemas"];

export type ErrorOut = S["ErrorOut"];
export type NonceOut = S["NonceOut"];
export type TokenOut = S["TokenOut"];
export type MeOut = S["MeOut"];
export type SignOutOut = S["SignOutOut"];
export type Scope = S["Scope"];
export type CreateKey = S["CreateKey"];
export type ApiKeyOut = S["ApiKeyOut"];
export type ApiKeyCreated = S["ApiKeyCreated"];
export type ApiKeysOut = S["ApiKeysOut"];
export type AccountOut = S["AccountOut"];
export type EntryOut = S["EntryOut"];
export type DepositOut = S["DepositOut"];
export type WithdrawalOut = S["WithdrawalOut"];
export type WithdrawalReceipt = S["WithdrawalReceipt"];
export type FeedItem = S["FeedItem"];
export type AchievementOut = S["AchievementOut"];
export type EnrolResponse = S["EnrolResponse"];
export type DeviceOut = S["DeviceOut"];
export type ListingOut = S["ListingOut"];
export type LeaseOut = S["LeaseOut"];
export type Estimate = S["Estimate"];
export type PriceIndexOut = S["PriceIndexOut"];
export type ModelPriceOut = S["ModelPriceOut"];
export type FleetWorker = S["FleetWorker"];
export type FleetStats = S["FleetStats"];
export type HashrateHistory = S["HashrateHistory"];
export type HistoryPoint = S["HistoryPoint"];
export type RecentBlock = S["RecentBlock"];
export type Block = S["Block"];
export type WorkerDetail = S["WorkerDetail"];
export type ReputationOut = S["ReputationOut"];
export type PriceSuggestion = S["PriceSuggestion"];
export type CommandRequest = S["CommandRequest"];
export type CommandSent = S["CommandSent"];
export type DashboardOut = S["DashboardOut"];
export type EarningsOut = S["EarningsOut"];
export type RuleOut = S["RuleOut"];
export type RuleCreated = S["RuleCreated"];
export type RuleCreate = S["RuleCreate"];
export type RulePatch = S["RulePatch"];
export type EventOut = S["EventOut"];
export type OverviewStats = S["OverviewStats"];
export type ActivityItem = S["ActivityItem"];
export type Activity = S["Activity"];
export type CreateListing = S["CreateListing"];
export type ChangeListing = S["ChangeListing"];
export type RentRequest = S["RentRequest"];
export type GpuTelemetry = S["GpuTelemetry"];
export type GpuInfo = S["GpuInfo"];
export type WorkerState = S["WorkerState"];
export type AlertKind = S["AlertKind"];
export type LeaseStatus = S["LeaseStatus"];
export type ListingStatus = S["ListingStatus"];

export interface Page<T> {
  items: T[];
  next_cursor?: string | null;
}

/** The public fleet figures the live channel sends (`fleet` frames and the snapshot). */
export interface FleetFigures {
  as_of: number | null;
  online_workers: number;
  hashrate: number;
  gpus: number;
  leased_workers: number;
  owners: number;
}
