// Drives Debian chromium through the operator console, as an operator would:
// tests/tests/browser_console.rs starts Switchboard with the Test CRM, an
// OAuth connection whose refresh token the CRM has just forgotten, and a
// webhook endpoint; this logs in, watches the live figures, drops a broken
// adapter file into the adapters directory and reloads, refreshes the
// connection (it turns revoked), replays webhooks, and logs out. Prints one
// JSON line of what it saw; saves a screenshot per step under JOBS.screenshots.

import { writeFileSync } from "node:fs";
import { launch } from "./browser.mjs";

const jobs = JSON.parse(process.env.JOBS);
const browser = await launch();
const results = { consoleErrors: [] };
let step = "login";
const shot = (page, name) => page.screenshot({ path: `${jobs.screenshots}/console-${name}.png`, fullPage: true });

try {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on("console", (m) => {
    if (m.type() === "error") results.consoleErrors.push({ step, text: m.text() });
  });
  page.on("pageerror", (e) => results.consoleErrors.push({ step, text: `uncaught ${e.message}` }));
  const text = (selector) => page.locator(selector).first().textContent();

  // 1. Log in: a wrong token is refused, the admin token opens a session cookie.
  await page.goto(`${jobs.host}/admin`);
  results.loginTitle = await text("h1");
  await page.fill("input[name=token]", "not-the-token");
  await page.click("button[type=submit]");
  results.wrongToken = await text(".notice");
  await page.fill("input[name=token]", jobs.adminToken);
  await page.click("button[type=submit]");
  await page.waitForSelector("#figures");
  results.afterLogin = await text("h1");
  const cookie = (await context.cookies()).find((c) => c.name === "switchboard_console");
  results.cookie = cookie && { httpOnly: cookie.httpOnly, sameSite: cookie.sameSite, path: cookie.path };

  // 2. The overview's live figures: a few samples drawn while requests come in.
  step = "figures";
  for (let i = 0; i < 5; i++) await page.evaluate(() => fetch("/isAlive"));
  await page.waitForFunction(() => Number(document.getElementById("figures").dataset.samples || 0) >= 3, null, { timeout: 20_000 });
  results.charts = await page.locator("[data-chart] svg polyline").count();
  results.requestsValue = await text("[data-chart=requests] .value");
  results.errorCodes = await page.locator("table.errors tbody tr[data-code]").evaluateAll((rows) => rows.map((r) => r.dataset.code));
  await shot(page, "1-overview");

  // 3. A broken file dropped into the adapters directory: reloaded, its error shown; the others serve on.
  step = "adapters";
  await page.click("nav >> text=Adapters");
  await page.waitForSelector("table.adapters");
  results.adaptersBefore = await page.locator("table.adapters tr[data-file]").evaluateAll((rows) => rows.map((r) => [r.dataset.file, r.dataset.state]));
  writeFileSync(`${jobs.adaptersDir}/broken.toml`, 'platform = "broken"\nversion = "0.1.0"\n');
  writeFileSync(`${jobs.adaptersDir}/broken.wasm`, "this is not a WebAssembly component");
  await page.click("[data-action=reload-all]");
  await page.waitForSelector(".notice");
  results.reloadNotice = await text(".notice");
  results.brokenRow = {
    state: await page.locator("tr[data-file='broken.wasm']").getAttribute("data-state"),
    error: await page.locator("tr[data-file='broken.wasm'] td.error").textContent(),
  };
  results.testcrmRow = await page.locator("tr[data-file='testcrm.wasm']").getAttribute("data-state");
  results.allowedHosts = await page.locator("tr[data-file='testcrm.wasm'] td.hosts").textContent();
  await shot(page, "2-broken-adapter");
  // Reload one file: only it is read again.
  await page.click("button[aria-label='Reload testcrm.wasm']");
  await page.waitForSelector(".notice");
  results.reloadOneNotice = await text(".notice");

  // 4. The connection whose refresh token the CRM forgot: refresh now, it turns revoked.
  step = "connections";
  await page.click("nav >> text=Connections");
  const row = page.locator(`tr[data-user='${jobs.oauthUser}']`);
  results.before = await row.getAttribute("data-status");
  await page.selectOption("select[name=status]", "active");
  await page.click("form.filters button[type=submit]");
  results.filteredActive = await page.locator("table.connections tbody tr").evaluateAll((rows) => rows.map((r) => r.dataset.status));
  await row.locator("button", { hasText: "Refresh now" }).click();
  await page.waitForSelector(".notice");
  results.refreshNotice = await text(".notice");
  results.after = await page.locator(`tr[data-user='${jobs.oauthUser}']`).getAttribute("data-status");
  results.afterError = await page.locator(`tr[data-user='${jobs.oauthUser}'] td.error`).textContent();
  await shot(page, "3-revoked");

  // 5. Webhook endpoints and their deliveries; replay.
  step = "webhooks";
  await page.click("nav >> text=Webhooks");
  await page.waitForSelector("article.endpoint");
  results.endpoints = await page.locator("article.endpoint").count();
  results.deliveries = await page.locator("table.deliveries tbody tr[data-state]").count();
  await page.locator("article.endpoint button").first().click();
  await page.waitForSelector(".notice");
  results.replayNotice = await text(".notice");
  await shot(page, "4-webhooks");

  // 6. A form without its CSRF token is refused, even with the session cookie.
  step = "csrf";
  results.withoutCsrf = await page.evaluate(async () => {
    const r = await fetch("/admin/console/adapters/reload", { method: "POST", body: new URLSearchParams({ csrf: "forged" }) });
    return r.status;
  });

  // 7. Log out: the session ends; the pages ask for the token again.
  step = "logout";
  await page.click("form.logout button");
  await page.waitForSelector("input[name=token]");
  await page.goto(`${jobs.host}/admin/console/connections`);
  results.afterLogout = await page.locator("input[name=token]").count();
} finally {
  await browser.close();
}
console.log(JSON.stringify(results));
