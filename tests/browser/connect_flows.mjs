// Drives Debian chromium through the connect() library, as a customer on a
// product's page would: tests/tests/browser_connect.rs starts Switchboard, the
// Test CRM and the demo page, and runs this with the jobs in JOBS (JSON).
// Prints one JSON line: each flow's events and outcome, as the page saw them.
//
// The CRM's consent page (https://oauth.testcrm.example) is the Test CRM's
// fake, reached through a route: the browser asks for the real address and
// the fake answers (its redirect passed back untouched).

import { launch, routeConsentToFake } from "./browser.mjs";

const jobs = JSON.parse(process.env.JOBS);
const browser = await launch();
const results = {};
try {
  const context = await browser.newContext();
  await routeConsentToFake(context, jobs.fakeCrm);
  const page = await context.newPage();
  page.on("pageerror", (e) => console.error("demo page error:", e.message));
  await page.goto(jobs.demoUrl);
  await page.waitForFunction(() => window.demoReady === true);

  /** Clicks the demo's Connect button for `job`; the popup it opens. */
  async function start(job) {
    await page.evaluate((j) => {
      window.job = j;
      window.events = [];
      window.outcome = null;
    }, job);
    const popup = page.waitForEvent("popup");
    await page.click("#connect");
    return popup;
  }
  const outcome = async () => {
    await page.waitForFunction(() => window.outcome !== null, null, { timeout: 20_000 });
    return page.evaluate(() => ({ outcome: window.outcome, events: window.events }));
  };

  // 1. API key, with a secret the backend signed: a wrong key first, then the right one.
  {
    const popup = await start({ connector: "testcrm", secret: jobs.apiKeySecret });
    await popup.waitForSelector("input[name=apiKey]");
    results.apiKeyTitle = await popup.textContent("h1");
    await popup.fill("input[name=apiKey]", "not-the-key");
    await popup.click("button[type=submit]");
    await popup.waitForSelector("p.error:not(:empty)");
    results.wrongKeyMessage = await popup.textContent("p.error");
    results.urlAfterLoad = popup.url();
    await popup.fill("input[name=apiKey]", jobs.apiKey);
    await popup.click("button[type=submit]");
    results.apiKey = await outcome();
    results.apiKeyPopupClosed = popup.isClosed() || (await popup.waitForEvent("close", { timeout: 5000 }).then(() => true));
  }

  // 2. OAuth, with a session the backend opened: consent at the CRM, back through the callback.
  {
    const popup = await start({ connector: "testcrm-oauth", secret: jobs.oauthSession });
    await popup.waitForSelector("button:has-text('Continue to')");
    await popup.click("button:has-text('Continue to')");
    results.oauth = await outcome();
  }

  // 3. The customer closes the window.
  {
    const popup = await start({ connector: "testcrm", secret: jobs.closeSession });
    await popup.waitForSelector("input[name=apiKey]");
    await page.waitForFunction(() => window.events.some((e) => e.type === "READY"));
    await popup.close();
    results.closed = await outcome();
  }

  // 4. The browser blocks the popup: the library's dialog asks for one click.
  {
    await page.evaluate(() => {
      const real = window.open.bind(window);
      let calls = 0;
      window.open = (...args) => (calls++ === 0 ? null : real(...args));
    });
    await page.evaluate((j) => {
      window.job = j;
      window.events = [];
      window.outcome = null;
    }, { connector: "testcrm", secret: jobs.blockedSession });
    await page.click("#connect");
    const go = page.locator("[data-switchboard-connect] button.go");
    await go.waitFor();
    results.fallbackText = await page.locator("[data-switchboard-connect] p").textContent();
    const popup = page.waitForEvent("popup");
    await go.click();
    const opened = await popup;
    await opened.waitForSelector("input[name=apiKey]");
    await opened.fill("input[name=apiKey]", jobs.apiKey);
    await opened.click("button[type=submit]");
    results.blocked = await outcome();
    results.dialogGone = (await page.locator("[data-switchboard-connect]").count()) === 0;
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(results));
