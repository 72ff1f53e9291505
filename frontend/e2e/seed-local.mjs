#!/usr/bin/env node
// Lists a provider's enrolled rigs on the marketplace, so a local platform without
// --seed-demo has something to rent. Run after `xenblocks-miner enroll` + `run`:
//
//   API_URL=http://127.0.0.1:8080 PROVIDER_KEY=0x… node e2e/seed-local.mjs
//
//   PRICE_CREDITS  credits per hour (default 0.5); HASHRATE  advertised H/s when the rig
//   has not measured one yet (default 1000)
import { walletFromKey } from "./wallet.mjs";

const API = (process.env.API_URL ?? "http://127.0.0.1:8080").replace(/\/+$/, "");
const KEY = process.env.PROVIDER_KEY ?? "";
const PRICE = Math.round(Number(process.env.PRICE_CREDITS ?? "0.5") * 1_000_000);
const HASHRATE = Number(process.env.HASHRATE ?? "1000");
if (!KEY) {
  console.error("set PROVIDER_KEY (the provider wallet's hex private key)");
  process.exit(2);
}

/** @param {string} path @param {RequestInit & { token?: string }} [init] */
async function call(path, init = {}) {
  const headers = { "Content-Type": "application/json", ...(init.token ? { Authorization: `Bearer ${init.token}` } : {}) };
  const response = await fetch(`${API}${path}`, { ...init, headers });
  const body = response.status === 204 ? null : await response.json();
  if (!response.ok) throw new Error(`${init.method ?? "GET"} ${path}: ${response.status} ${JSON.stringify(body)}`);
  return body;
}

const account = walletFromKey(KEY);
const challenge = await call(`/api/auth/nonce?address=${account.address}`);
const signature = await account.signMessage({ message: challenge.message });
const { token } = await call("/api/auth/verify", {
  method: "POST",
  body: JSON.stringify({ address: account.address, signature, nonce: challenge.nonce }),
});
const devices = await call("/api/devices?limit=200", { token });
let listed = 0;
for (const device of devices.items) {
  if (device.revoked_at || device.listing_id) continue;
  const listing = await call("/api/listings", {
    method: "POST",
    token,
    body: JSON.stringify({
      worker_id: device.worker_id,
      price_per_hour: PRICE,
      advertised_hashrate: device.hashrate > 0 ? device.hashrate : HASHRATE,
      min_duration_sec: 600,
      max_duration_sec: 86_400,
    }),
  });
  listed += 1;
  console.log(`listed ${device.name || device.worker_id} as ${listing.listing_id} (${listing.advertised_hashrate} H/s)`);
}
console.log(`${account.address}: ${devices.items.length} rig(s), ${listed} newly listed`);
