// What the browser scripts share: Debian chromium launched headless, and
// the Test CRM's consent page (https://oauth.testcrm.example) answered by
// its fake, through a route: the browser asks for the real address and the
// fake answers (its redirect passed back untouched).

import { chromium } from "playwright-core";

export function launch() {
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
}

export async function routeConsentToFake(context, fakeCrm) {
  await context.route("https://oauth.testcrm.example/**", async (route) => {
    const asked = new URL(route.request().url());
    const response = await route.fetch({ url: `${fakeCrm}${asked.pathname}${asked.search}`, maxRedirects: 0 });
    await route.fulfill({ response });
  });
}
