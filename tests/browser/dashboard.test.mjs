// The developer's whole journey through the dashboard, in real headless Chromium
// against the real `dream` binary (started by scripts/browser-test, which sets
// DREAM_BASE_URL). Any console error, failed request or unexpected error status
// fails the test; every page is checked with axe-core and saved as a screenshot
// under target/browser/.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const BASE = process.env.DREAM_BASE_URL ?? "http://127.0.0.1:8787";
const SHOTS = process.env.DREAM_SCREENSHOTS ?? "../../target/browser";
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
mkdirSync(SHOTS, { recursive: true });

let browser;
let context;
let page;
const problems = [];
// Statuses the journey provokes on purpose (a refused form answers 4xx).
const expectedStatuses = new Set();

// A receiver for the webhook endpoint the journey adds.
const received = [];
const receiver = createServer((req, res) => {
  let body = "";
  req.on("data", (chunk) => (body += chunk));
  req.on("end", () => {
    received.push({ headers: req.headers, body });
    res.writeHead(204).end();
  });
});

before(async () => {
  await new Promise((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
    ],
  });
  context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  page.on("console", (msg) => {
    if (msg.type() === "error") problems.push(`console error: ${msg.text()}`);
  });
  page.on("pageerror", (err) => problems.push(`page error: ${err.message}`));
  page.on("requestfailed", (req) => {
    // A download the test reads itself, and a favicon load cut short by the next
    // navigation, are reported as aborted: neither is a failure of the page.
    const aborted = req.failure()?.errorText === "net::ERR_ABORTED";
    const benign = aborted && (req.url().includes(".csv") || req.url().includes("/assets/icon."));
    if (!benign) {
      problems.push(`request failed: ${req.url()} ${req.failure()?.errorText}`);
    }
  });
  page.on("response", (res) => {
    const key = `${res.request().method()} ${new URL(res.url()).pathname} ${res.status()}`;
    if (res.status() >= 400 && !expectedStatuses.has(key)) problems.push(`HTTP ${key}`);
  });
});

after(async () => {
  await browser?.close();
  receiver.close();
});

async function check(name) {
  await page.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: true });
  // Evaluated through the DevTools protocol: the page's CSP (no inline
  // scripts) stays on, so a CSP violation of our own still shows as an error.
  await page.evaluate(AXE_SOURCE);
  const result = await page.evaluate(async () =>
    // eslint-disable-next-line no-undef
    axe.run(document, { resultTypes: ["violations"] }),
  );
  const serious = result.violations.filter((v) => ["serious", "critical"].includes(v.impact));
  assert.deepEqual(
    serious.map((v) => `${v.id}: ${v.help} (${v.nodes.map((n) => n.target.join(" ")).join(", ")})`),
    [],
    `accessibility violations on ${name}`,
  );
  assert.deepEqual(problems, [], `problems on ${name}`);
  const title = await page.title();
  assert.match(title, /· dream$/, `${name} has a title`);
}

async function api(method, path, key, { body, headers = {} } = {}) {
  const res = await fetch(`${BASE}${path}`, {
    method,
    headers: {
      Authorization: `Bearer ${key}`,
      ...(body ? { "Content-Type": "application/json" } : {}),
      ...headers,
    },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, json: await res.json().catch(() => null) };
}

async function waitFor(what, probe, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

test("a developer's journey: sign up, app, tiers, calls, customers, keys, webhooks, CSV, log out", async () => {
  const email = `dev-${Date.now()}@example.com`;
  const password = "correct horse battery staple";

  // Signing in is required.
  await page.goto(`${BASE}/dashboard/apps`);
  assert.match(page.url(), /\/dashboard\/login/);
  await check("login");

  // Sign up.
  await page.click("text=Create an account");
  await page.fill("input[name=email]", email);
  await page.fill("input[name=password]", password);
  await Promise.all([page.waitForURL(/\/dashboard\/apps$/), page.click("button[type=submit]")]);
  await check("apps-empty");

  // A new app: its test secret key is revealed once.
  await page.fill("input[name=name]", "Browser App");
  await page.click("text=Create app");
  const secret = (await page.textContent("#new-secret")).trim();
  assert.match(secret, /^sk_test_/);
  await check("app-created");
  await page.click("text=Open the app");
  await page.waitForURL(/\/dashboard\/apps\/plt_[0-9A-Za-z]+\/test$/);
  assert.match(await page.textContent("main"), /No customers yet/);
  const overviewUrl = page.url();
  await check("overview-empty");

  // Tiers: a free tier with a limit of 3 and a paid one.
  await page.click("nav.app >> text=Tiers");
  await page.fill("input[name=name_0]", "free");
  await page.fill("input[name=price_0]", "0");
  await page.fill("input[name=limit_0]", "3");
  await page.click("text=Add a tier");
  await page.fill("input[name=name_1]", "pro");
  await page.fill("input[name=display_1]", "Pro");
  await page.fill("input[name=price_1]", "29");
  await page.fill("input[name=limit_1]", "1000");
  await page.click("text=Save tiers");
  await page.waitForSelector(".flash.ok");
  assert.match(await page.textContent(".flash.ok"), /Saved 2 tiers/);
  // Edit: the saved rows come back filled in; raise pro's limit.
  assert.equal(await page.inputValue("input[name=name_1]"), "pro");
  await page.fill("input[name=limit_1]", "2000");
  await page.click("text=Save tiers");
  await page.waitForSelector(".flash.ok");
  assert.equal(await page.inputValue("input[name=limit_1]"), "2000");
  await check("tiers");

  // Calls from "the developer's server" with the revealed key, up to the limit.
  for (let i = 1; i <= 3; i++) {
    const { status, json } = await api("POST", "/api/data", secret, { headers: { "X-User-Id": "browser-user" } });
    assert.equal(status, 200, JSON.stringify(json));
    assert.equal(json.usage.count, i);
  }
  const refused = await api("POST", "/api/data", secret, { headers: { "X-User-Id": "browser-user" } });
  assert.equal(refused.status, 429);

  // The customer and its usage appear.
  await page.goto(overviewUrl);
  assert.match(await page.textContent("main"), /browser-user/);
  await check("overview");
  await page.setViewportSize({ width: 360, height: 780 });
  await page.screenshot({ path: `${SHOTS}/overview-phone.png`, fullPage: true });
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
  assert.equal(overflow, false, "the overview fits a 360 px wide screen");
  await page.setViewportSize({ width: 1280, height: 900 });
  await page.click("nav.app >> text=Customers");
  await Promise.all([
    page.waitForURL(/\/customers\/usr_/),
    page.locator("tr", { hasText: "browser-user" }).locator("a").first().click(),
  ]);
  assert.match(await page.textContent("main"), /3\s+of 3 calls/);
  await check("customer");

  // Keys: create a second pair, then revoke the first; the new one works.
  await page.click("nav.app >> text=API keys");
  await page.fill("input[name=label]", "second");
  await page.click("text=Create key pair");
  const second = (await page.textContent("#new-secret")).trim();
  assert.match(second, /^sk_test_/);
  await check("keys-created");

  // Roll the first pair with no overlap: a new secret at once, the old one ends.
  const firstRow = page.locator("tr", { hasText: "default" });
  await firstRow.locator("select[name=overlap]").selectOption("0");
  await firstRow.locator("button", { hasText: "Roll" }).click();
  await page.waitForSelector("#new-secret");
  const rolledSecret = (await page.textContent("#new-secret")).trim();
  assert.notEqual(rolledSecret, secret);
  assert.match(await page.textContent(".flash.ok"), /rolled/i);
  assert.equal((await api("GET", "/api/tiers", secret)).status, 401, "the rolled secret ends at once");
  assert.equal((await api("GET", "/api/tiers", rolledSecret)).status, 200);
  await check("keys-rolled");

  // Revoke the rolled successor; the second pair keeps working.
  page.once("dialog", (dialog) => dialog.accept());
  await page
    .locator("tr", { hasText: "default" })
    .filter({ hasText: "active" })
    .locator("button", { hasText: "Revoke" })
    .click();
  await page.waitForSelector(".flash.ok");
  assert.equal((await api("GET", "/api/tiers", rolledSecret)).status, 401);
  assert.equal((await api("GET", "/api/tiers", second)).status, 200);
  await check("keys");

  // Webhooks: an endpoint on the local receiver gets the next event.
  await page.click("nav.app >> text=Webhooks");
  const { port } = receiver.address();
  await page.fill("input[name=url]", `http://127.0.0.1:${port}/hook`);
  await page.fill("input[name=description]", "browser test receiver");
  await Promise.all([page.waitForURL(/\/webhooks\/we_/), page.click("text=Add endpoint")]);
  const endpointUrl = page.url();
  const created = await api("POST", "/api/customers", second, {
    body: { email: "hooked@example.com", firstName: "Hooked", lastName: "Customer" },
  });
  assert.equal(created.status, 201, JSON.stringify(created.json));
  await waitFor("a delivery to the receiver", () => received.some((r) => r.body.includes("customer.created")));
  const id = received.find((r) => r.body.includes("customer.created")).headers["webhook-id"];
  assert.ok(id, "deliveries carry webhook-id");
  await waitFor("the delivery in the log", async () => {
    await page.goto(endpointUrl);
    return (await page.textContent("main")).includes("succeeded");
  });
  await page.click("text=Reveal secret");
  assert.match(await page.textContent("#signing-secret"), /^whsec_/);
  await check("webhook");

  // Events and the CSV export.
  await page.click("nav.app >> text=Events");
  assert.match(await page.textContent("main"), /customer\.created/);
  await check("events");
  const [download] = await Promise.all([
    page.waitForEvent("download"),
    page.click("text=Export customers as CSV"),
  ]);
  const csv = readFileSync(await download.path(), "utf8");
  assert.match(csv, /hooked@example\.com/);

  // Log out: the session ends and pages ask to sign in again.
  await Promise.all([page.waitForURL(/\/dashboard\/login/), page.click("text=Log out")]);
  await page.goto(`${BASE}/dashboard/apps`);
  assert.match(page.url(), /\/dashboard\/login/);
  assert.deepEqual(problems, []);
});
