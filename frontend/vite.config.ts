/// <reference types="vitest/config" />
import tailwindcss from "@tailwindcss/vite";
import react from "@vitejs/plugin-react";
import { defineConfig, type Plugin } from "vite";

// `npm run dev`: /api is proxied to a running platform (XB_API_URL, default the local
// stack's http://127.0.0.1:8080) and /config.json is answered here, so nothing in public/
// shadows the config.json that the platform (or CloudFront) serves in production.
const apiTarget = process.env.XB_API_URL ?? "http://127.0.0.1:8080";
const wsUrl = process.env.XB_WS_URL ?? "ws://127.0.0.1:8081";

const devConfig = JSON.stringify({
  api_url: "", // same origin: the dev server proxies /api
  ws_url: wsUrl,
  region: "local",
  stage: process.env.XB_STAGE ?? "local",
  chain_id: 1,
  // The local stack takes deposits on its own chain unless run with --no-chain (XB_DEPOSITS=0).
  deposits: process.env.XB_DEPOSITS !== "0",
  // ...and pays withdrawals on it from a hot wallet, up to XB_WITHDRAWAL_AUTO_MAX
  // micro-credits without an admin (unsaid: the form names no number).
  withdrawals_on_chain: process.env.XB_DEPOSITS !== "0",
  withdrawal_auto_max: process.env.XB_WITHDRAWAL_AUTO_MAX ? Number(process.env.XB_WITHDRAWAL_AUTO_MAX) : null,
});

function devConfigJson(): Plugin {
  const serve = (_req: unknown, res: { setHeader(k: string, v: string): void; end(body: string): void }) => {
    res.setHeader("Content-Type", "application/json");
    res.setHeader("Cache-Control", "no-store");
    res.end(devConfig);
  };
  return {
    name: "xenblocks-dev-config",
    configureServer(server) {
      server.middlewares.use("/config.json", serve);
    },
    configurePreviewServer(server) {
      server.middlewares.use("/config.json", serve);
    },
  };
}

const proxy = { "/api": { target: apiTarget, changeOrigin: true } };

export default defineConfig({
  plugins: [react(), tailwindcss(), devConfigJson()],
  server: { proxy },
  preview: { proxy },
  build: {
    target: "es2022",
    sourcemap: true,
    chunkSizeWarningLimit: 700,
    rolldownOptions: {
      output: {
        codeSplitting: {
          groups: [
            { name: "charts", test: /node_modules[\\/](lightweight-charts|fancy-canvas)/ },
            { name: "react", test: /node_modules[\\/](react|react-dom|react-router|scheduler)[\\/]/ },
          ],
        },
      },
    },
  },
  test: {
    environment: "jsdom",
    include: ["src/**/*.test.{ts,tsx}"],
    restoreMocks: true,
  },
});
