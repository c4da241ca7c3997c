// The hosted connect page. On /connect/{connector}?session=cs_…&origin=… it
// reads its connect session, shows the connector's API-key form or an OAuth
// button, and tells the window that opened it what happened, by postMessage
// to the opener's exact origin (checked by the host against the
// workspace's allowed origins; never "*"). /connect/done is where an OAuth
// connect lands: it reports the outcome the same way.

const SOURCE = "switchboard-connect";
const app = document.getElementById("app");
const params = new URLSearchParams(location.search);

/** Sends a message to the opener, at `origin` only. */
function tell(origin, message) {
  if (origin && window.opener) {
    window.opener.postMessage({ source: SOURCE, ...message }, origin);
  }
}

/** Replaces the page's content with elements built by `h`. */
function show(...children) {
  app.replaceChildren(...children);
}

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") el.textContent = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  el.append(...children);
  return el;
}

function showError(message, correlationId) {
  show(
    h("h1", { text: "Could not connect" }),
    h("p", { class: "error", role: "alert", text: message }),
    correlationId ? h("p", { class: "muted", text: `Reference: ${correlationId}` }) : "",
  );
}

/** A problem document's fields, or a network failure's. */
async function problemOf(response) {
  try {
    const p = await response.json();
    return { code: p.code || "CONNECT_FAILED", message: p.detail || p.title || "The request failed", correlationId: p.correlationId };
  } catch {
    return { code: "CONNECT_FAILED", message: `The request failed (HTTP ${response.status})` };
  }
}

async function call(method, path, token, body) {
  const init = { method, headers: { authorization: `Bearer ${token}` } };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw { code: "NETWORK_ERROR", message: "Switchboard could not be reached; check the connection and try again" };
  }
  if (!response.ok) throw await problemOf(response);
  return response.json();
}

function done() {
  const origin = params.get("origin");
  const error = params.get("error");
  if (error) {
    const message = params.get("error_description") || "The CRM login did not complete";
    const correlationId = params.get("correlation_id") || undefined;
    showError(message, correlationId);
    tell(origin, { type: "error", code: error, message, correlationId });
    return;
  }
  const integrationId = params.get("integration_id");
  const status = params.get("status");
  show(h("h1", { text: "Connected" }), h("p", { class: "ok", text: "You can close this window." }));
  tell(origin, { type: "INSTALLED", integrationId, status, connector: params.get("connector") });
}

async function start() {
  const token = params.get("session") || "";
  const asked = params.get("origin") || "";
  // The token stays in memory only: not in the address bar, history or a referrer.
  history.replaceState(null, "", location.pathname);
  let session;
  try {
    session = await call("GET", `/connect/sessions/current?origin=${encodeURIComponent(asked)}`, token);
  } catch (p) {
    showError(p.message, p.correlationId);
    return;
  }
  const origin = session.openerOrigin;
  const fail = (p) => {
    showError(p.message, p.correlationId);
    tell(origin, { type: "error", code: p.code, message: p.message, correlationId: p.correlationId });
  };
  const title = h("h1", { text: `Connect ${session.connectorName}` });
  const intro = h("p", { class: "muted", text: `${session.workspace.name} asks to connect your ${session.connectorName} account.` });
  if (session.authKind === "oauth") {
    const go = h("button", { type: "button", text: `Continue to ${session.connectorName}` });
    go.addEventListener("click", async () => {
      go.disabled = true;
      try {
        const { authUrl } = await call("POST", "/connect/sessions/current/oauth", token, { origin });
        location.assign(authUrl);
      } catch (p) {
        fail(p);
      }
    });
    show(title, intro, go);
  } else {
    const form = h("form", { novalidate: true });
    const page = session.form || {};
    if (page.warning) form.append(h("p", { class: "warning", text: page.warning }));
    const fields = (page.content || []).filter((f) => f.const);
    for (const f of fields) {
      const id = `field-${f.const}`;
      const secret = f.const === "apiKey";
      form.append(
        h("label", { for: id, text: f.title || f.const }),
        h("input", {
          id, name: f.const, required: f.required === true, autocomplete: "off", spellcheck: "false",
          type: secret ? "password" : "text", "aria-describedby": f.description ? `${id}-help` : undefined,
        }),
      );
      if (f.description) form.append(h("p", { id: `${id}-help`, class: "muted", text: f.description }));
    }
    const message = h("p", { class: "error", role: "alert" });
    const submit = h("button", { type: "submit", text: "Connect" });
    form.append(message, submit);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const values = Object.fromEntries(new FormData(form).entries());
      if (!String(values.apiKey || "").trim()) {
        message.textContent = "Enter the API key.";
        return;
      }
      submit.disabled = true;
      message.textContent = "";
      try {
        const body = { apiKey: values.apiKey, hostname: values.hostname || undefined };
        const r = await call("POST", "/connect/sessions/current/api-key", token, body);
        show(h("h1", { text: "Connected" }), h("p", { class: "ok", text: "You can close this window." }));
        tell(origin, { type: "INSTALLED", integrationId: r.integrationId, status: r.status, connector: session.connector });
      } catch (p) {
        // A refused key can be corrected and sent again: the page stays.
        submit.disabled = false;
        message.textContent = p.message;
        if (p.code !== "INVALID_API_KEY") {
          tell(origin, { type: "error", code: p.code, message: p.message, correlationId: p.correlationId });
        }
      }
    });
    show(title, intro, form);
    form.querySelector("input")?.focus();
  }
  tell(origin, { type: "READY", connector: session.connector });
}

if (location.pathname === "/connect/done") done();
else start();
