/** Fleet intelligence and money per rig: anomaly findings, recommendations, the GPU models'
 * public figures, profit per day, and the electricity price behind it. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useAddress, useApi } from "../app/context";
import { keys } from "./keys";
import { fetchAllPages } from "./queries";
import type {
  FindingOut,
  FleetProfitOut,
  GpuModels,
  Recommendations,
  SettingsOut,
  SettingsRequest,
  WorkerProfitOut,
} from "./types";

const worker = (id: string) => `/api/workers/${encodeURIComponent(id)}`;

/** The GPU models' public figures (models run by at least five rigs). */
export function useGpuModels() {
  const api = useApi();
  return useQuery({
    queryKey: keys.gpuModels,
    queryFn: ({ signal }) => api.get<GpuModels>("/api/insights/gpu-models", { signal, auth: false }),
    refetchInterval: 300_000,
  });
}

/** The caller's rigs' findings, open and closed (kept 30 days), newest first. */
export function useAnomalies() {
  const api = useApi();
  const address = useAddress();
  return useQuery({
    queryKey: keys.anomalies(address ?? ""),
    queryFn: ({ signal }) => fetchAllPages<FindingOut>(api, "/api/insights/anomalies", {}, 5, signal),
    enabled: address !== null,
    refetchInterval: 60_000,
  });
}

export function useRecommendations() {
  const api = useApi();
  const address = useAddress();
  return useQuery({
    queryKey: keys.recommendations(address ?? ""),
    queryFn: ({ signal }) => api.get<Recommendations>("/api/recommendations", { signal }),
    enabled: address !== null,
    refetchInterval: 120_000,
  });
}

export function useProfit(days = 7) {
  const api = useApi();
  const address = useAddress();
  return useQuery({
    queryKey: keys.profit(address ?? "", days),
    queryFn: ({ signal }) => api.get<FleetProfitOut>("/api/profit", { query: { days }, signal }),
    enabled: address !== null,
    refetchInterval: 300_000,
  });
}

/** One rig's profit per day (its owner only: `enabled` is false for anyone else, who is answered 404). */
export function useWorkerProfit(workerId: string, days = 7, enabled = true) {
  const api = useApi();
  const address = useAddress();
  return useQuery({
    queryKey: keys.workerProfit(address ?? "", workerId, days),
    queryFn: ({ signal }) => api.get<WorkerProfitOut>(`${worker(workerId)}/profit`, { query: { days }, signal }),
    enabled: address !== null && enabled,
    refetchInterval: 300_000,
  });
}

/** One rig's findings (its owner only: `enabled` is false for anyone else). */
export function useWorkerAnomalies(workerId: string, enabled = true) {
  const api = useApi();
  const address = useAddress();
  return useQuery({
    queryKey: keys.workerAnomalies(address ?? "", workerId),
    queryFn: ({ signal }) => api.get<FindingOut[]>(`${worker(workerId)}/anomalies`, { signal }),
    enabled: address !== null && enabled,
    refetchInterval: 60_000,
  });
}

export function useWorkerRecommendations(workerId: string, enabled = true) {
  const api = useApi();
  const address = useAddress();
  return useQuery({
    queryKey: keys.workerRecommendations(address ?? "", workerId),
    queryFn: ({ signal }) => api.get<Recommendations>(`${worker(workerId)}/recommendations`, { signal }),
    enabled: address !== null && enabled,
    refetchInterval: 120_000,
  });
}

export function useSettings() {
  const api = useApi();
  const address = useAddress();
  return useQuery({
    queryKey: keys.settings(address ?? ""),
    queryFn: ({ signal }) => api.get<SettingsOut>("/api/accounts/me/settings", { signal }),
    enabled: address !== null,
  });
}

/** Replace the settings; the profit figures are then read again at the new price. */
export function useSaveSettings() {
  const api = useApi();
  const address = useAddress();
  const queryClient = useQueryClient();
  return useMutation({
    // The form shows the API's refusal by the field: no toast as well.
    meta: { silent: true },
    mutationFn: (body: SettingsRequest) => api.put<SettingsOut>("/api/accounts/me/settings", body),
    onSuccess: (saved) => {
      if (!address) return;
      queryClient.setQueryData(keys.settings(address), saved);
      void queryClient.invalidateQueries({ queryKey: keys.profitAll(address) });
    },
  });
}
