/** API keys for bots and scripts: list, create (the key is shown once), revoke. Session only. */
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useAddress, useApi } from "../app/context";
import { keys } from "./keys";
import type { ApiKeyCreated, ApiKeyOut, ApiKeysOut, CreateKey, Scope } from "./types";

/** Every scope, in the API's order, with what it lets a key do. */
export const SCOPES: { scope: Scope; label: string; hint: string }[] = [
  { scope: "read", label: "Read", hint: "every page of your data (GET)" },
  { scope: "trade", label: "Trade", hint: "rent and stop leases, list and delist rigs" },
  { scope: "withdraw", label: "Withdraw", hint: "request withdrawals: money out" },
  { scope: "devices", label: "Devices", hint: "enrol, revoke and command rigs" },
  { scope: "alerts", label: "Alerts", hint: "create, change and delete alert rules" },
];

export function useApiKeys() {
  const api = useApi();
  const address = useAddress();
  return useQuery({
    queryKey: keys.apiKeys(address ?? ""),
    queryFn: ({ signal }) => api.get<ApiKeysOut>("/api/auth/keys", { signal }),
    enabled: address !== null,
  });
}

/** The listed form of a new key: everything but the key itself. */
function listed(created: ApiKeyCreated): ApiKeyOut {
  const { key: _secret, ...rest } = created;
  return rest;
}

export function useCreateApiKey() {
  const api = useApi();
  const address = useAddress();
  const queryClient = useQueryClient();
  return useMutation({
    meta: { errorTitle: "Could not create the key" },
    mutationFn: (body: CreateKey) => api.post<ApiKeyCreated>("/api/auth/keys", body),
    onSuccess: (created) => {
      if (!address) return;
      // Into the list at once (the list read right after a write may not show it yet).
      queryClient.setQueryData<ApiKeysOut>(keys.apiKeys(address), (data) =>
        data ? { ...data, items: [...data.items.filter((k) => k.key_id !== created.key_id), listed(created)] } : data,
      );
    },
  });
}

export function useRevokeApiKey() {
  const api = useApi();
  const address = useAddress();
  const queryClient = useQueryClient();
  return useMutation({
    meta: { errorTitle: "Could not revoke the key" },
    mutationFn: (keyId: string) => api.delete<void>(`/api/auth/keys/${encodeURIComponent(keyId)}`),
    onMutate: async (keyId) => {
      if (!address) return undefined;
      const key = keys.apiKeys(address);
      await queryClient.cancelQueries({ queryKey: key });
      const previous = queryClient.getQueryData<ApiKeysOut>(key);
      queryClient.setQueryData<ApiKeysOut>(key, (data) => (data ? { ...data, items: data.items.filter((k) => k.key_id !== keyId) } : data));
      return { previous, key };
    },
    onError: (_e, _id, context) => {
      if (context?.previous) queryClient.setQueryData(context.key, context.previous);
    },
    onSettled: () => {
      if (address) void queryClient.invalidateQueries({ queryKey: keys.apiKeys(address) });
    },
  });
}
