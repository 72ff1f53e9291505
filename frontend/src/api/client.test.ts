import { describe, expect, it, vi } from "vitest";
import { mockFetch } from "../test/fakes";
import { ApiClient, ApiError, buildUrl, errorMessage } from "./client";

describe("buildUrl", () => {
  it("joins and drops empty parameters", () => {
    expect(buildUrl("http://h:1/", "/api/x", { a: 1, b: undefined, c: null, d: "", e: false })).toBe("http://h:1/api/x?a=1&e=false");
    expect(buildUrl("", "/api/x")).toBe("/api/x");
  });
});

describe("ApiClient", () => {
  it("sends the bearer token and JSON, and reads JSON", async () => {
    const { fetch, calls } = mockFetch([{ method: "POST", path: "/api/leases", status: 201, body: { lease_id: "l1" } }]);
    const api = new ApiClient({ baseUrl: "http://test.local", getToken: () => "tok", fetcher: fetch });
    const result = await api.post<{ lease_id: string }>("/api/leases", { duration_sec: 60 }, { headers: { "Idempotency-Key": "k" } });
    expect(result).toEqual({ lease_id: "l1" });
    expect(calls[0]?.headers).toMatchObject({
      Authorization: "Bearer tok",
      "Content-Type": "application/json",
      "Idempotency-Key": "k",
    });
    expect(calls[0]?.body).toEqual({ duration_sec: 60 });
  });

  it("leaves the token out when asked", async () => {
    const { fetch, calls } = mockFetch([{ path: "/api/auth/nonce", body: { nonce: "n" } }]);
    const api = new ApiClient({ baseUrl: "http://test.local", getToken: () => "tok", fetcher: fetch });
    await api.get("/api/auth/nonce", { auth: false });
    expect(calls[0]?.headers.Authorization).toBeUndefined();
  });

  it("turns the API's error body into an ApiError with its message", async () => {
    const { fetch } = mockFetch([
      { method: "POST", path: "/api/leases", status: 402, body: { error: { code: "insufficient_funds", message: "balance 1 < 5" } } },
    ]);
    const api = new ApiClient({ baseUrl: "http://test.local", getToken: () => null, fetcher: fetch });
    const error = await api.post("/api/leases", {}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect(error).toMatchObject({ status: 402, code: "insufficient_funds", message: "balance 1 < 5" });
    expect(errorMessage(error)).toBe("balance 1 < 5");
  });

  it("copes with a body that is not the API's", async () => {
    const fetcher = vi.fn(async () => new Response("<html>bad gateway</html>", { status: 502, statusText: "Bad Gateway" }));
    const api = new ApiClient({ baseUrl: "", getToken: () => null, fetcher: fetcher as unknown as typeof fetch });
    await expect(api.get("/api/x")).rejects.toMatchObject({ status: 502, message: "502 Bad Gateway" });
  });

  it("calls onUnauthorized on a 401 only when a token was sent", async () => {
    const { fetch } = mockFetch([{ path: "/api/accounts/me", status: 401, body: { error: { code: "unauthorized", message: "expired" } } }]);
    const onUnauthorized = vi.fn();
    let token: string | null = "t";
    const api = new ApiClient({ baseUrl: "http://test.local", getToken: () => token, fetcher: fetch, onUnauthorized });
    await expect(api.get("/api/accounts/me")).rejects.toBeInstanceOf(ApiError);
    expect(onUnauthorized).toHaveBeenCalledTimes(1);
    token = null;
    await expect(api.get("/api/accounts/me")).rejects.toBeInstanceOf(ApiError);
    expect(onUnauthorized).toHaveBeenCalledTimes(1);
  });

  it("answers undefined for a 204", async () => {
    const { fetch } = mockFetch([{ method: "DELETE", path: "/api/devices/rig-1", status: 204 }]);
    const api = new ApiClient({ baseUrl: "http://test.local", getToken: () => "t", fetcher: fetch });
    await expect(api.delete("/api/devices/rig-1")).resolves.toBeUndefined();
  });

  it("describes network failures for people", () => {
    expect(errorMessage(new TypeError("Failed to fetch"))).toMatch(/Could not reach the platform/);
    expect(errorMessage("plain")).toBe("plain");
  });
});
