/**
 * The API's bodies under their schema names, generated from the OpenAPI document into
 * types.gen.ts (`python -m tools.api_types`, checked by tests/unit/api/test_dashboard_types.py).
 */
import type { OverviewStats, PageOut_ListingOut_ } from "./types.gen";

export type * from "./types.gen";

/** Any of the API's cursor pages (`PageOut_<Item>_`), for the hooks that page through them. */
export type Page<T> = Omit<PageOut_ListingOut_, "items"> & { items: T[] };

/**
 * The public fleet figures the live channel sends (`fleet` frames and the snapshot): the
 * same figures, from the same aggregation, as the head of `/api/overview/stats`.
 */
export type FleetFigures = Pick<
  OverviewStats,
  "as_of" | "online_workers" | "hashrate" | "gpus" | "leased_workers" | "owners"
>;
