#!/usr/bin/env node
// The dashboard in a real browser (Debian's Chromium through playwright-core), against a
// running platform: sign in with an injected test wallet, rent a listing, see the lease
// go active and live hashrate updates arrive (two: the rig's heartbeats keep coming), set an
// electricity price, add an alert rule, and screenshot every page (the Insights page too). Any console error, page error or failed
// request fails the run.
//
//   PLATFORM_URL    the dashboard's origin (required), e.g. http://127.0.0.1:8080
//   WALLET_KEY      hex private key of the renter's test wallet (required)
//   SCREENSHOT_DIR  where the PNGs go (default: ./e2e-screenshots)
//   CHROMIUM        the browser (default: /usr/bin/chromium)
//   E2E_LIVE        "0" skips renting and the live checks (a platform with no miners or
//                   no WebSocket yet); default "1": the full flow
//   E2E_RENT        "0" does not rent (e.g. a provider's wallet, for its own pages' screenshots)
//   E2E_STOP        "0" leaves the lease running; default "1": stop it from the page at the
//                   end (the listing is free again for the next run)
//   E2E_TIMEOUT_S   overall limit in seconds (default 300)
//   E2E_FULL_PAGE   "0": screenshots of the viewport (1280×800; phone 390×844) rather than
//                   of the whole page (the README's gallery)
//   E2E_HEADFUL     "1" shows the browser (debugging)
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { chromium } from "playwright-core";
import { injectWallet, walletFromKey } from "./wallet.mjs";

const PLATFORM_URL = (process.env.PLATFORM_URL ?? "").replace(/\/+$/, "");
const WALLET_KEY = process.env.WALLET_KEY ?? "";
const SCREENSHOT_DIR = resolve(process.env.SCREENSHOT_DIR ?? "e2e-screenshots");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const LIVE = (process.env.E2E_LIVE ?? "1") !== "0";
const RENT = (process.env.E2E_RENT ?? "1") !== "0";
const STOP = (process.env.E2E_STOP ?? "1") !== "0";
const TIMEOUT_S = Number(process.env.E2E_TIMEOUT_S ?? 300);
const HEADFUL = process.env.E2E_HEADFUL === "1";
const FULL_PAGE = (process.env.E2E_FULL_PAGE ?? "1") !== "0";
const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

if (!PLATFORM_URL || !WALLET_KEY) {
  console.error("set PLATFORM_URL (the dashboard origin) and WALLET_KEY (a hex private key)");
  process.exit(2);
}

const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

const started = Date.now();
const log = (/** @type {string} */ line) => console.log(`[e2e +${((Date.now() - started) / 1000).toFixed(1)}s] ${line}`);
/** @type {string[]} */
const problems = [];

const watchdog = setTimeout(() => {
  console.error(`e2e: over the ${TIMEOUT_S}s limit`);
  process.exit(1);
}, TIMEOUT_S * 1000);
watchdog.unref();

mkdirSync(SCREENSHOT_DIR, { recursive: true });
const profile = mkdtempSync(join(tmpdir(), "xb-e2e-chromium-"));
const account = walletFromKey(WALLET_KEY);
log(`test wallet ${account.address}; screenshots in ${SCREENSHOT_DIR}`);

const context = await chromium.launchPersistentContext(profile, {
  executablePath: CHROMIUM,
  headless: !HEADFUL,
  // The fresh profile is the --user-data-dir (playwright passes it from `profile`).
  args: FLAGS.filter((flag) => (HEADFUL ? flag !== "--headless" : true)),
  viewport: DESKTOP,
  deviceScaleFactor: 1,
  colorScheme: "dark",
  reducedMotion: "reduce",
  timezoneId: "UTC",
  locale: "en-US",
});

let exitCode = 0;
try {
  await injectWallet(context, account, { chainId: 1, log });
  const page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(20_000);

  page.on("console", (message) => {
    if (message.type() === "error") problems.push(`console error: ${message.text()} (${message.location().url})`);
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("requestfailed", (request) => {
    const failure = request.failure()?.errorText ?? "failed";
    // Navigating away aborts in-flight reads: not a fault.
    if (failure.includes("ERR_ABORTED")) return;
    problems.push(`request failed: ${request.method()} ${request.url()} (${failure})`);
  });

  let shot = 0;
  const screenshot = async (/** @type {string} */ name, fullPage = FULL_PAGE) => {
    shot += 1;
    const file = join(SCREENSHOT_DIR, `${String(shot).padStart(2, "0")}-${name}.png`);
    // Notifications were checked where they matter: out of the picture.
    for (let i = 0; i < 10 && (await page.getByRole("button", { name: "Dismiss notification" }).count()) > 0; i += 1) {
      await page.getByRole("button", { name: "Dismiss notification" }).first().click({ timeout: 2000 }).catch(() => undefined);
    }
    // Let reads finish (no skeleton left) and charts draw.
    await page
      .waitForFunction(() => document.querySelectorAll(".skeleton").length === 0, undefined, { timeout: 15_000 })
      .catch(() => log(`(${name}: still loading after 15 s)`));
    await page.waitForTimeout(500);
    await page.screenshot({ path: file, fullPage });
    log(`screenshot ${file}`);
  };
  /** In-app navigation (no reload), as a person clicking the menu. */
  const navigate = async (/** @type {string} */ path, /** @type {string} */ testId) => {
    await page.evaluate((to) => {
      window.history.pushState({}, "", to);
      window.dispatchEvent(new PopStateEvent("popstate"));
    }, path);
    await page.getByTestId(testId).waitFor();
    await page.waitForSelector('[data-testid="loading"]', { state: "detached", timeout: 20_000 }).catch(() => undefined);
  };

  // 1. The public overview, anonymous.
  await page.goto(`${PLATFORM_URL}/`);
  await page.getByTestId("page-overview").waitFor();
  await page.getByTestId("stat-hashrate").waitFor();
  await screenshot("overview");
  await page.keyboard.press("Tab");
  const firstFocus = await page.evaluate(() => document.activeElement?.textContent?.trim());
  assert.equal(firstFocus, "Skip to content", "the first Tab reaches the skip link");
  await page.keyboard.press("Escape");
  await page.evaluate(() => /** @type {HTMLElement | null} */ (document.activeElement)?.blur());

  // 2. Sign in with the wallet (EIP-4361 message signed in Node).
  await navigate("/account", "page-account");
  await page.getByTestId("sign-in").first().click();
  await page.getByTestId("account-chip").waitFor();
  const shown = await page.getByTestId("account-chip").getAttribute("data-address");
  assert.equal(shown?.toLowerCase(), account.address.toLowerCase(), "signed in as the test wallet");
  log(`signed in as ${shown}`);
  await page.getByTestId("balance").locator(".tabular").waitFor();

  // 3. Credit: the local faucet through the form, if the balance is low.
  const balanceText = (await page.getByTestId("balance").innerText()).replace(/[^\d.]/g, "");
  if (Number(balanceText) < 100 && (await page.getByTestId("deposit-form").count()) > 0) {
    await page.getByTestId("deposit-form").locator("input").fill("500");
    await page.getByTestId("deposit-form").getByRole("button", { name: "Deposit" }).click();
    await page.getByTestId("toast-success").filter({ hasText: "Deposited" }).waitFor();
    await page.getByTestId("ledger-row").first().waitFor();
    log("deposited 500 credits");
  }
  // Out again: where the stage pays withdrawals on chain (xenblocks local does, from its
  // hot wallet), 1 credit through the form, paid without an admin and followed to settled.
  const stageConfig = await (await fetch(`${PLATFORM_URL}/config.json`)).json();
  if (stageConfig.withdrawals_on_chain) {
    const settledBefore = await page.locator('[data-testid="withdrawal"][data-status="settled"]').count();
    const withdrawForm = page.getByTestId("withdraw-form");
    await withdrawForm.locator("input").fill("1");
    await withdrawForm.getByRole("button", { name: "Request" }).click();
    await page.getByTestId("toast-success").filter({ hasText: "Withdrawal requested" }).waitFor();
    await page.waitForFunction(
      (before) => document.querySelectorAll('[data-testid="withdrawal"][data-status="settled"]').length > before,
      settledBefore,
      { timeout: 90_000 },
    );
    log("withdrew 1 credit on chain: settled");
  }
  // The electricity price behind the profit figures, once per account, through the form.
  const priceForm = page.getByTestId("price-form");
  await priceForm.waitFor();
  const priceInput = priceForm.getByLabel("Price per kWh");
  if ((await priceInput.inputValue()) === "") {
    await priceInput.fill("0.15");
    await priceForm.getByRole("button", { name: "Save" }).click();
    await page.getByTestId("toast-success").filter({ hasText: "Electricity price saved" }).waitFor();
    log("electricity price set");
  }
  await screenshot("account");

  // 4. The marketplace.
  await navigate("/marketplace", "page-marketplace");
  /** @type {string | null} */
  let leasedWorker = null;
  /** @type {string | null} */
  let anyWorker = null;
  /** @type {null | (() => Promise<void>)} */
  let stopLease = null;
  await page.getByTestId("listing-card").first().waitFor().catch(() => undefined);
  if (LIVE && RENT) {
    // Seeded listings may take a moment to appear (rigs connecting): reload until one is online.
    const deadline = Date.now() + 90_000;
    while ((await page.locator('[data-testid="listing-card"]:has-text("Online")').count()) === 0) {
      assert.ok(Date.now() < deadline, "an online listing appears on the marketplace");
      await page.waitForTimeout(3000);
      await page.reload();
      await page.getByTestId("page-marketplace").waitFor();
      await page.waitForLoadState("networkidle").catch(() => undefined);
    }
  } else {
    await page.waitForLoadState("networkidle").catch(() => undefined);
  }
  await screenshot("marketplace");

  const card = page.locator('[data-testid="listing-card"]:has-text("Online")').first();
  if (RENT && (LIVE || (await card.count()) > 0)) {
    const listingId = await card.getAttribute("data-listing-id");
    log(`renting listing ${listingId}`);
    await card.getByRole("button", { name: "Rent" }).click();
    const dialog = page.getByTestId("rent-dialog");
    await dialog.waitFor();
    await dialog.getByTestId("estimate").waitFor();
    await screenshot("rent-dialog", false);
    await dialog.getByTestId("confirm-rent").click();
    await page.waitForURL(/\/renter\?lease=/);
    await page.getByTestId("page-renter").waitFor();
    const lease = page.locator('[data-testid="active-lease"]').first();
    await lease.waitFor();
    assert.equal(await lease.getAttribute("data-status"), "active", "the lease is active");
    const leaseId = await lease.getAttribute("data-lease-id");
    log(`lease ${leaseId} is active`);
    const href = await lease.locator('a[href^="/workers/"]').first().getAttribute("href");
    leasedWorker = href ? decodeURIComponent(href.slice("/workers/".length)) : null;

    if (LIVE) {
      // The live channel is up and signed in…
      await page.waitForSelector('[data-testid="connection-indicator"][data-status="open"][data-authenticated="true"]', { timeout: 30_000 });
      // …and a hashrate update for the leased rig arrives over it.
      await lease.locator('[data-testid="lease-live-hashrate"][data-live="true"]').waitFor({ timeout: 120_000 });
      const live = lease.getByTestId("lease-live-hashrate");
      const first = Number(await live.getAttribute("data-updated-at"));
      log(`live hashrate update arrived: ${await live.innerText()}`);
      // …and the rig's heartbeats keep coming: a newer one.
      await page.waitForFunction(
        ([id, after]) => {
          const shown = document.querySelector(`[data-testid="active-lease"][data-lease-id="${id}"] [data-testid="lease-live-hashrate"]`);
          return Number(shown?.getAttribute("data-updated-at") || 0) > Number(after);
        },
        [leaseId, first],
        { timeout: 60_000 },
      );
      log(`a newer live update arrived ${(Number(await live.getAttribute("data-updated-at")) - first).toFixed(1)} s later: ${await live.innerText()}`);
    }
    await screenshot("renter");
    stopLease = async () => {
      await navigate("/renter", "page-renter");
      const running = page.locator(`[data-testid="active-lease"][data-lease-id="${leaseId}"]`);
      await running.getByTestId("stop-lease").click();
      await page.getByTestId("confirm-stop").click();
      await page.getByTestId("toast-success").filter({ hasText: "Lease stopped" }).waitFor();
      await running.getByText("Stopping").waitFor();
      log(`lease ${leaseId} stopped from the page`);
    };
  } else {
    log(RENT ? "no online listing: renting skipped (E2E_LIVE=0)" : "renting skipped (E2E_RENT=0)");
    await navigate("/renter", "page-renter");
    const href = await page
      .locator('[data-testid="active-lease"] a[href^="/workers/"]')
      .first()
      .getAttribute("href", { timeout: 2000 })
      .catch(() => null);
    leasedWorker = href ? decodeURIComponent(href.slice("/workers/".length)) : null;
    await screenshot("renter");
  }

  // 5. Every other page.
  await navigate("/monitoring", "page-monitoring");
  anyWorker = await page
    .locator('[data-testid="fleet-row"]')
    .first()
    .getAttribute("data-worker-id", { timeout: 2000 })
    .catch(() => null);
  await screenshot("monitoring");
  await navigate("/provider", "page-provider");
  await page.getByTestId("enrol-card").waitFor();
  await screenshot("provider");
  await navigate("/alerts", "page-alerts");
  // A rule through the form, once per account: the dialog shows its signing secret once.
  const rules = page.getByTestId("alert-rules");
  await rules.locator('[data-testid="alert-rule"], :text("No rules yet")').first().waitFor();
  if ((await rules.getByTestId("alert-rule").count()) === 0) {
    const form = page.getByTestId("new-rule");
    await form.getByLabel("Name", { exact: true }).fill("Rigs down");
    await form.getByRole("button", { name: "Create rule" }).click();
    await page.getByRole("dialog", { name: "Rule created" }).getByRole("button", { name: "Done" }).click();
    await rules.getByTestId("alert-rule").filter({ hasText: "Rigs down" }).waitFor();
    log("alert rule created");
  }
  await page.evaluate(() => window.scrollTo(0, 0)); // the form's top, not where the click left it
  await screenshot("alerts");
  await navigate("/insights", "page-insights");
  // Each block settles (its rows or its empty state): the page's reads all answered.
  for (const id of ["open-anomalies", "recommendations", "profit", "gpu-models"]) {
    await page.getByTestId(id).waitFor();
  }
  await page.getByTestId("profit-price").waitFor();
  await screenshot("insights");

  const workerId = leasedWorker ?? anyWorker;
  if (workerId) {
    await navigate(`/workers/${encodeURIComponent(workerId)}`, "page-worker");
    await page.getByTestId("worker-hashrate").waitFor();
    await screenshot("worker");
  } else {
    log("no rig to show: worker page skipped");
  }

  // 6. A phone.
  await page.setViewportSize(PHONE);
  await navigate("/", "page-overview");
  await screenshot("overview-phone");
  await navigate("/renter", "page-renter");
  await screenshot("renter-phone");
  await page.getByRole("button", { name: "Open menu" }).click();
  await page.locator("#mobile-nav").waitFor();
  await screenshot("menu-phone", false);

  if (STOP && stopLease) {
    await page.setViewportSize(DESKTOP);
    await stopLease();
  }

  if (problems.length > 0) {
    exitCode = 1;
    console.error(`e2e: ${problems.length} problem(s) in the browser:\n  ${problems.join("\n  ")}`);
  } else {
    log(`passed (${shot} screenshots)`);
  }
} catch (error) {
  exitCode = 1;
  console.error("e2e failed:", error instanceof Error ? error.stack ?? error.message : error);
  if (problems.length > 0) console.error(`browser problems so far:\n  ${problems.join("\n  ")}`);
  try {
    const page = context.pages()[0];
    if (page) await page.screenshot({ path: join(SCREENSHOT_DIR, "failure.png"), fullPage: true });
  } catch {
    // the browser is gone
  }
} finally {
  await context.close().catch(() => undefined);
  rmSync(profile, { recursive: true, force: true });
}
process.exit(exitCode);
