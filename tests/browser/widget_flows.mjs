// Drives Debian chromium through the embeddable widget, as a product's page
// embeds it: tests/tests/browser_widget.rs starts Switchboard, the Test CRM
// and two demo pages (one on an allowed origin with two widgets for two
// customers, one on an origin no workspace allows), and runs this with the
// jobs in JOBS (JSON). Prints one JSON line: what each step saw. Saves a
// screenshot per step under JOBS.screenshots (build output).

import { launch, routeConsentToFake } from "./browser.mjs";

const jobs = JSON.parse(process.env.JOBS);
const browser = await launch();
const results = { consoleErrors: [], foreignConsole: [], failedResponses: [] };
/** The step running: console errors are reported with it. */
let step = "load";
const shot = (page, name) => page.screenshot({ path: `${jobs.screenshots}/widget-${name}.png`, fullPage: true });

/** Records every console error and uncaught exception of `page` into `into`. */
function watchConsole(page, into, label) {
  page.on("console", (m) => {
    if (m.type() === "error") into.push({ step, page: label, text: m.text() });
  });
  page.on("pageerror", (e) => into.push({ step, page: label, text: `uncaught ${e.message}` }));
  page.on("response", (r) => {
    if (r.status() >= 400) results.failedResponses.push({ step, page: label, status: r.status(), url: r.url() });
  });
}

const widget = (page, id) => page.locator(`[data-switchboard-widget="${id}"]`);
const row = (page, id, connector) => widget(page, id).locator(`li[data-connector="${connector}"]`);
const statusOf = (page, id, connector) => row(page, id, connector).getAttribute("data-status");
async function waitStatus(page, id, connector, status) {
  await widget(page, id).locator(`li[data-connector="${connector}"][data-status="${status}"]`).waitFor({ timeout: 20_000 });
}

try {
  const context = await browser.newContext();
  await routeConsentToFake(context, jobs.fakeCrm);
  const page = await context.newPage();
  page.on("popup", (p) => watchConsole(p, results.consoleErrors, "popup"));
  // A clock the test can move: the widget's expiry timers run on it.
  await page.clock.install();
  watchConsole(page, results.consoleErrors, "demo");
  await page.goto(jobs.demoUrl);

  // 1. Two widgets, two customers: each lists its connectors (Bob's filtered, dark).
  await row(page, "w-alice", "testcrm").waitFor();
  await row(page, "w-bob", "testcrm").waitFor();
  results.aliceConnectors = await widget(page, "w-alice").locator("li").evaluateAll((els) => els.map((e) => e.dataset.connector));
  results.bobConnectors = await widget(page, "w-bob").locator("li").evaluateAll((els) => els.map((e) => e.dataset.connector));
  results.bobTheme = await widget(page, "w-bob").getAttribute("data-theme");
  results.initial = { alice: await statusOf(page, "w-alice", "testcrm"), bob: await statusOf(page, "w-bob", "testcrm") };
  // The page's CSS (buttons yellow) does not reach the widget's buttons; the widget's does not reach the page's.
  results.widgetButtonBackground = await widget(page, "w-alice").locator("button").first().evaluate((b) => getComputedStyle(b).backgroundColor);
  results.pageButtonBackground = await page.locator("#page-button").evaluate((b) => getComputedStyle(b).backgroundColor);
  results.connectLabel = await row(page, "w-alice", "testcrm").locator("button").first().getAttribute("aria-label");
  await shot(page, "1-loaded");

  // 2. Alice connects the Test CRM by API key, in the popup; her row turns connected without a reload.
  {
    step = "apiKey";
    const popup = page.waitForEvent("popup");
    await row(page, "w-alice", "testcrm").locator("[data-action=connect]").click();
    const p = await popup;
    await p.waitForSelector("input[name=apiKey]");
    await shot(p, "2-popup");
    await p.fill("input[name=apiKey]", jobs.apiKey);
    await p.click("button[type=submit]");
    await waitStatus(page, "w-alice", "testcrm", "active");
    results.apiKey = {
      status: await statusOf(page, "w-alice", "testcrm"),
      label: await row(page, "w-alice", "testcrm").locator(".status").textContent(),
      notice: await widget(page, "w-alice").locator(".notice").textContent(),
      bobStill: await statusOf(page, "w-bob", "testcrm"),
    };
    await shot(page, "2-connected");
  }

  // 3. Alice connects the OAuth connector: consent at the CRM in the popup, back, connected.
  {
    step = "oauth";
    const popup = page.waitForEvent("popup");
    await row(page, "w-alice", "testcrm-oauth").locator("[data-action=connect]").click();
    const p = await popup;
    await p.waitForSelector("button:has-text('Continue to')");
    await p.click("button:has-text('Continue to')");
    await waitStatus(page, "w-alice", "testcrm-oauth", "active");
    results.oauth = await statusOf(page, "w-alice", "testcrm-oauth");
  }

  // 4. Alice disconnects the Test CRM: asked first (Cancel keeps it), then confirmed.
  {
    step = "disconnect";
    await row(page, "w-alice", "testcrm").locator("[data-action=disconnect]").click();
    results.confirmText = await row(page, "w-alice", "testcrm").locator(".confirm p").textContent();
    await shot(page, "4-confirm");
    await row(page, "w-alice", "testcrm").locator("[data-action=cancel]").click();
    results.afterCancel = await statusOf(page, "w-alice", "testcrm");
    results.focusAfterCancel = await widget(page, "w-alice").evaluate((host) => host.shadowRoot.activeElement?.dataset.action);
    // By keyboard this time: Enter on the focused Disconnect button, then on the confirmation.
    await page.keyboard.press("Enter");
    await row(page, "w-alice", "testcrm").locator("[data-action=confirm-disconnect]").click();
    await waitStatus(page, "w-alice", "testcrm", "none");
    results.disconnected = await statusOf(page, "w-alice", "testcrm");
  }

  // 5. The token runs out (the page's clock moved past expiresAt): the events, the fallback; setToken() brings it back.
  {
    step = "expiry";
    await page.clock.fastForward("01:01:00");
    await widget(page, "w-bob").locator("[role=alert][data-code=WIDGET_TOKEN_EXPIRED]").waitFor();
    results.expiredText = await widget(page, "w-bob").locator("[role=alert]").textContent();
    results.expiredCard = await widget(page, "w-bob").locator("section").textContent();
    results.events = await page.evaluate(() => window.seen.filter((e) => e.widget === "w-bob").map((e) => e.type));
    await shot(page, "5-expired");
    await page.evaluate((t) => document.getElementById("w-bob").switchboardWidget.setToken(t), jobs.bobFreshToken);
    await row(page, "w-bob", "testcrm").waitFor();
    results.afterSetToken = await statusOf(page, "w-bob", "testcrm");
  }

  // 6. An unknown token: the fallback says why, with a way to try again.
  {
    step = "bogus";
    await page.evaluate((host) => {
      const s = document.createElement("script");
      s.type = "module";
      s.id = "w-bogus";
      s.src = `${host}/widget/widget.js`;
      s.setAttribute("token", "wt_not-a-token");
      document.getElementById("bogus-slot").append(s);
    }, jobs.host);
    await widget(page, "w-bogus").locator("[role=alert]").waitFor();
    results.bogus = {
      code: await widget(page, "w-bogus").locator("[role=alert]").getAttribute("data-code"),
      retry: await widget(page, "w-bogus").locator("button").count(),
    };
  }

  // 7. Same id replaces, removal cleans up, different ids stay independent.
  {
    step = "replace";
    await page.evaluate(({ host, token }) => {
      const s = document.createElement("script");
      s.type = "module";
      s.id = "w-bob";
      s.src = `${host}/widget/widget.js`;
      s.setAttribute("token", token);
      s.setAttribute("connectors", "testcrm,testcrm-oauth");
      document.getElementById("bob-slot").append(s);
    }, { host: jobs.host, token: jobs.bobFreshToken });
    await row(page, "w-bob", "testcrm-oauth").waitFor();
    results.bobWidgetsAfterReinject = await widget(page, "w-bob").count();
    await page.evaluate(() => document.querySelectorAll("#bogus-slot script").forEach((s) => s.remove()));
    await widget(page, "w-bogus").waitFor({ state: "detached" });
    results.bogusAfterRemove = await widget(page, "w-bogus").count();
    results.aliceAfterOthers = await statusOf(page, "w-alice", "testcrm-oauth");
    results.reloads = await page.evaluate(() => window.pageLoads);
    await shot(page, "7-final");
  }

  // 8. A page on an origin no workspace allows, with a valid token: it gets nothing.
  {
    step = "foreign";
    const foreign = await context.newPage();
    watchConsole(foreign, results.foreignConsole, "foreign");
    await foreign.goto(jobs.foreignUrl);
    await widget(foreign, "w-foreign").locator("[role=alert]").waitFor();
    results.foreign = {
      code: await widget(foreign, "w-foreign").locator("[role=alert]").getAttribute("data-code"),
      rows: await widget(foreign, "w-foreign").locator("li").count(),
      direct: await foreign.evaluate(async ({ host, token }) => {
        try {
          const r = await fetch(`${host}/widget/api/connectors`, { headers: { authorization: `Bearer ${token}` } });
          return `read ${r.status}`;
        } catch (e) {
          return `refused: ${e.name}`;
        }
      }, { host: jobs.host, token: jobs.foreignToken }),
    };
    await shot(foreign, "8-foreign");
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(results));
