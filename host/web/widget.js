// Switchboard's embeddable integrations widget: an ES module served by the
// host at /widget/widget.js. A page embeds it with one tag (or injects the
// same tag from React, Vue or Angular code and removes it on unmount):
//
//   <script type="module" id="crm" src="https://switchboard.example.com/widget/widget.js"
//           token="wt_…" connectors="pipedrive,clio" theme="dark"></script>
//
// For the token's customer it lists the workspace's connectors with their
// integration's status, and connects (the hosted connect page, in a popup),
// reconnects and disconnects them. Its DOM lives in a Shadow root placed
// right after the script (or in the element the `target` selector names),
// so the page's CSS and the widget's do not mix; `--switchboard-accent`,
// `--switchboard-font` and `--switchboard-radius` on the page theme it.
//
// Removing the script element, or `destroy()`, removes the widget; a
// second script with the same id replaces the first; scripts with
// different ids are independent widgets. A new token comes by `setToken()`
// (the script element's `switchboardWidget`, or `get(id)` from this module),
// by changing the `token` attribute, or by injecting the script again.
// Events, dispatched on the script element (they bubble to the document):
// `switchboard:token-expiring` an hour (or a tenth of its lifetime) before
// the token expires, `switchboard:token-expired`, and `switchboard:change`
// after a connect or disconnect; `detail` holds `widgetId`, `customerId`,
// `expiresAt` and `widget`.

import { connect } from "../sdk/connect.js";

const HOST = new URL(import.meta.url).origin;
const SELF = import.meta.url;
/** Every widget on the page by id, shared with other copies of this module. */
const REGISTRY = (globalThis[Symbol.for("switchboard.widgets")] ||= new Map());
const ATTRIBUTES = ["token", "connectors", "theme"];
let anonymous = 0;

const STATUS = {
  active: { label: "Connected", tone: "ok" },
  expired: { label: "Connected, sign-in expired", tone: "warn" },
  revoked: { label: "Access revoked: reconnect", tone: "bad" },
  none: { label: "Not connected", tone: "muted" },
};

const STYLE = `
  :host { all: initial; display: block; font: 15px/1.45 var(--switchboard-font, system-ui, -apple-system, "Segoe UI", sans-serif);
    --accent: var(--switchboard-accent, #2457d6); --radius: var(--switchboard-radius, .55rem);
    --bg: #fff; --fg: #16181d; --muted: #5d6470; --line: #dfe3ea; --ok: #1a7f37; --warn: #9a6700; --bad: #c62828; }
  :host([data-theme="dark"]) { --bg: #16181d; --fg: #eef1f6; --muted: #a3abb8; --line: #2f3540; --ok: #4ac26b; --warn: #e3b341; --bad: #ff7b72; }
  @media (prefers-color-scheme: dark) { :host([data-theme="auto"]) { --bg: #16181d; --fg: #eef1f6; --muted: #a3abb8; --line: #2f3540; --ok: #4ac26b; --warn: #e3b341; --bad: #ff7b72; } }
  .card { background: var(--bg); color: var(--fg); border: 1px solid var(--line); border-radius: var(--radius); padding: 1rem 1.1rem; }
  h2 { font-size: 1.05rem; margin: 0 0 .75rem; }
  ul { list-style: none; margin: 0; padding: 0; }
  li { display: flex; align-items: center; gap: .75rem; padding: .65rem 0; border-top: 1px solid var(--line); flex-wrap: wrap; }
  li:first-child { border-top: 0; }
  .name { font-weight: 600; flex: 1 1 8rem; }
  .status { font-size: .85rem; color: var(--muted); flex: 1 1 10rem; }
  .status::before { content: ""; display: inline-block; width: .55rem; height: .55rem; border-radius: 50%; margin-inline-end: .4rem; background: currentColor; vertical-align: .05rem; }
  .status[data-tone="ok"] { color: var(--ok); } .status[data-tone="warn"] { color: var(--warn); } .status[data-tone="bad"] { color: var(--bad); }
  .actions { display: flex; gap: .5rem; }
  button { font: inherit; font-size: .9rem; padding: .4rem .85rem; border-radius: calc(var(--radius) * .75); border: 1px solid var(--line);
    background: transparent; color: var(--fg); cursor: pointer; }
  button.primary { background: var(--accent); border-color: var(--accent); color: #fff; }
  button.danger { border-color: var(--bad); color: var(--bad); }
  button:disabled { opacity: .55; cursor: progress; }
  button:focus-visible { outline: 2px solid var(--accent); outline-offset: 2px; }
  .confirm { flex-basis: 100%; display: flex; gap: .5rem; align-items: center; flex-wrap: wrap; }
  .confirm p { margin: 0; flex: 1 1 12rem; }
  .muted { color: var(--muted); }
  .loading { display: flex; gap: .6rem; align-items: center; color: var(--muted); }
  .spinner { width: 1rem; height: 1rem; border: 2px solid var(--line); border-top-color: var(--accent); border-radius: 50%; animation: spin 0.9s linear infinite; }
  @keyframes spin { to { transform: rotate(1turn); } }
  @media (prefers-reduced-motion: reduce) { .spinner { animation: none; } }
  .fallback { border-color: var(--bad); }
  .fallback p { margin: 0 0 .6rem; }
  .live { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
  .notice { margin: .6rem 0 0; font-size: .9rem; color: var(--muted); }
  .notice:empty { display: none; }
`;

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") el.textContent = v;
    else if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  el.append(...children.filter((c) => c !== null && c !== undefined));
  return el;
}

function problem(code, message, correlationId) {
  return { code, message, correlationId };
}

/** One widget: its host element, Shadow root, token and timers. */
class Widget {
  constructor(id, options) {
    this.id = id;
    this.script = options.script || null;
    this.token = String(options.token || "");
    this.only = parseList(options.connectors);
    this.theme = options.theme || "light";
    this.element = h("div", { "data-switchboard-widget": id });
    this.root = this.element.attachShadow({ mode: "open" });
    this.card = h("section", { class: "card", "aria-label": "CRM integrations" });
    this.live = h("p", { class: "live", role: "status" });
    this.root.append(h("style", { text: STYLE }), this.card, this.live);
    this.timers = [];
    this.controller = new AbortController();
    this.busy = new Set();
    this.destroyed = false;
    this.view = null;
    this.applyTheme();
    options.place(this.element);
    this.load();
  }

  /** Uses a new token (no page reload): loads again with it. */
  setToken(token) {
    if (this.destroyed) return;
    this.token = String(token || "");
    if (this.script && this.script.getAttribute("token") !== this.token) this.script.setAttribute("token", this.token);
    this.load();
  }

  /** Loads the connectors again. */
  refresh() {
    return this.load({ quiet: true });
  }

  /** Removes the widget and everything it holds. */
  destroy() {
    if (this.destroyed) return;
    this.destroyed = true;
    this.clearTimers();
    this.controller.abort();
    this.element.remove();
    if (REGISTRY.get(this.id) === this) REGISTRY.delete(this.id);
    if (this.script && this.script.switchboardWidget === this) delete this.script.switchboardWidget;
  }

  applyTheme() {
    const theme = ["dark", "auto"].includes(this.theme) ? this.theme : "light";
    this.element.setAttribute("data-theme", theme);
  }

  configure(name, value) {
    if (name === "token" && String(value || "") !== this.token) this.setToken(value);
    if (name === "connectors") {
      this.only = parseList(value);
      this.render();
    }
    if (name === "theme") {
      this.theme = value || "light";
      this.applyTheme();
    }
  }

  clearTimers() {
    for (const t of this.timers) clearTimeout(t);
    this.timers = [];
  }

  emit(type, extra = {}) {
    const detail = {
      widgetId: this.id,
      customerId: this.view?.customerId,
      expiresAt: this.view?.expiresAt,
      widget: this,
      ...extra,
    };
    const target = this.script && this.script.isConnected ? this.script : this.element;
    target.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  }

  announce(text) {
    this.live.textContent = "";
    // A fresh text node each time, so screen readers read a repeat too.
    setTimeout(() => {
      if (!this.destroyed) this.live.textContent = text;
    }, 30);
  }

  async call(method, path, body) {
    const init = { method, headers: { authorization: `Bearer ${this.token}` }, signal: this.controller.signal };
    if (body !== undefined) {
      init.headers["content-type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(`${HOST}${path}`, init);
    } catch (e) {
      if (e?.name === "AbortError") throw problem("ABORTED", "The widget was removed");
      throw problem("NETWORK_ERROR", "The integrations service could not be reached.");
    }
    let data = null;
    try {
      data = await response.json();
    } catch {
      // no JSON: reported by status below
    }
    if (!response.ok) {
      throw problem(data?.code || `HTTP_${response.status}`, data?.detail || `The request failed (HTTP ${response.status}).`, data?.correlationId);
    }
    return data;
  }

  async load({ quiet = false } = {}) {
    const generation = (this.generation = (this.generation || 0) + 1);
    this.clearTimers();
    if (!this.token) return this.fail(problem("WIDGET_TOKEN_MISSING", "The widget has no token."));
    if (!quiet || !this.view) this.showLoading();
    try {
      const view = await this.call("GET", "/widget/api/connectors");
      if (this.destroyed || generation !== this.generation) return;
      this.view = view;
      this.failure = null;
      this.schedule(view);
      this.render();
    } catch (p) {
      if (this.destroyed || generation !== this.generation || p.code === "ABORTED") return;
      this.fail(p);
    }
  }

  schedule(view) {
    const now = Date.now();
    const expires = Date.parse(view.expiresAt);
    const issued = Date.parse(view.issuedAt || "") || now;
    if (!Number.isFinite(expires)) return;
    const warnBefore = Math.min(3600_000, (expires - issued) / 10);
    const at = (when, fn) => this.timers.push(setTimeout(fn, Math.min(Math.max(0, when - Date.now()), 2 ** 31 - 1)));
    at(expires - warnBefore, () => this.emit("switchboard:token-expiring"));
    at(expires, () => {
      this.emit("switchboard:token-expired");
      this.fail(problem("WIDGET_TOKEN_EXPIRED", "This session has expired."));
    });
  }

  showLoading() {
    this.card.classList.remove("fallback");
    this.card.setAttribute("aria-busy", "true");
    this.card.replaceChildren(h("div", { class: "loading" }, h("span", { class: "spinner", "aria-hidden": "true" }), h("span", { text: "Loading integrations…" })));
  }

  fail(p) {
    this.failure = p;
    this.card.removeAttribute("aria-busy");
    this.card.classList.add("fallback");
    const expired = p.code === "WIDGET_TOKEN_EXPIRED";
    const unreachable = p.code === "NETWORK_ERROR";
    const headline = expired
      ? "Your session has expired."
      : unreachable
        ? "Integrations are unavailable right now."
        : "Integrations could not be shown.";
    const hint = expired
      ? "Reload the page to continue."
      : unreachable
        ? "Check your connection and try again."
        : p.message;
    this.card.replaceChildren(
      h("div", { role: "alert", "data-code": p.code },
        h("p", { class: "headline", text: headline }),
        h("p", { class: "muted", text: hint }),
        p.correlationId ? h("p", { class: "muted", text: `Reference: ${p.correlationId}` }) : null),
    );
    if (!expired) this.card.append(h("button", { type: "button", text: "Try again", onclick: () => this.load() }));
  }

  render() {
    if (this.destroyed || !this.view || this.failure) return;
    this.card.removeAttribute("aria-busy");
    this.card.classList.remove("fallback");
    const connectors = this.view.connectors.filter((c) => !this.only || this.only.includes(c.id));
    const list = h("ul", { "aria-label": "CRM integrations" });
    for (const c of connectors) list.append(this.row(c));
    this.notice = this.notice || h("p", { class: "notice", role: "status" });
    this.card.replaceChildren(
      h("h2", { text: "CRM integrations" }),
      connectors.length ? list : h("p", { class: "muted", text: "No integrations are available." }),
      this.notice,
    );
  }

  row(c) {
    const status = STATUS[c.connected ? c.status : "none"] || STATUS.none;
    const busy = this.busy.has(c.id);
    const li = h("li", { "data-connector": c.id, "data-status": c.connected ? c.status : "none" },
      h("span", { class: "name", text: c.name }),
      h("span", { class: "status", "data-tone": status.tone, text: busy ? "Working…" : status.label }));
    const actions = h("span", { class: "actions" });
    if (!c.connected) {
      actions.append(h("button", { type: "button", class: "primary", "data-action": "connect", "aria-label": `Connect ${c.name}`,
        disabled: busy, text: "Connect", onclick: () => this.connect(c) }));
    } else {
      if (c.status === "revoked" || c.status === "expired") {
        actions.append(h("button", { type: "button", class: "primary", "data-action": "reconnect", "aria-label": `Reconnect ${c.name}`,
          disabled: busy, text: "Reconnect", onclick: () => this.connect(c) }));
      }
      actions.append(h("button", { type: "button", class: "danger", "data-action": "disconnect", "aria-label": `Disconnect ${c.name}`,
        disabled: busy, text: "Disconnect", onclick: () => this.confirmDisconnect(li, c) }));
    }
    li.append(actions);
    return li;
  }

  confirmDisconnect(li, c) {
    if (li.querySelector(".confirm")) return;
    const cancel = h("button", { type: "button", "data-action": "cancel", text: "Cancel" });
    const yes = h("button", { type: "button", class: "danger", "data-action": "confirm-disconnect", text: "Disconnect" });
    const box = h("div", { class: "confirm", role: "group", "aria-label": `Confirm disconnecting ${c.name}` },
      h("p", { text: `Disconnect ${c.name}? Nothing more is sent to it until you connect again.` }), yes, cancel);
    const close = () => {
      box.remove();
      li.querySelector("[data-action=disconnect]")?.focus();
    };
    cancel.addEventListener("click", close);
    box.addEventListener("keydown", (e) => {
      if (e.key === "Escape") close();
    });
    yes.addEventListener("click", () => this.disconnect(c));
    li.append(box);
    cancel.focus();
  }

  setNotice(text) {
    if (this.notice) this.notice.textContent = text;
    this.announce(text);
  }

  async connect(c) {
    this.busy.add(c.id);
    this.render();
    const session = async () => {
      const body = { connector: c.id, ...(c.connected && c.integrationId ? { integrationId: c.integrationId } : {}) };
      return (await this.call("POST", "/widget/api/connect-sessions", body)).sessionToken;
    };
    try {
      let installed = null;
      await connect(c.id, session, (e) => {
        if (e.type === "INSTALLED") installed = e;
      }, { host: HOST });
      this.busy.delete(c.id);
      await this.refresh();
      this.setNotice(`${c.name} is connected.`);
      this.emit("switchboard:change", { connector: c.id, integrationId: installed?.integrationId, status: "connected" });
    } catch (e) {
      this.busy.delete(c.id);
      if (this.destroyed) return;
      this.render();
      this.setNotice(e.code === "USER_CLOSED" ? `Connecting ${c.name} was cancelled.` : `${c.name} could not be connected: ${e.message}`);
    }
  }

  async disconnect(c) {
    this.busy.add(c.id);
    this.render();
    try {
      await this.call("DELETE", `/widget/api/integrations/${encodeURIComponent(c.integrationId)}`);
      this.busy.delete(c.id);
      await this.refresh();
      this.setNotice(`${c.name} is disconnected.`);
      this.emit("switchboard:change", { connector: c.id, integrationId: c.integrationId, status: "disconnected" });
    } catch (p) {
      this.busy.delete(c.id);
      if (this.destroyed || p.code === "ABORTED") return;
      this.render();
      this.setNotice(`${c.name} could not be disconnected: ${p.message}`);
    }
  }
}

function parseList(value) {
  const items = String(value || "").split(",").map((s) => s.trim()).filter(Boolean);
  return items.length ? items : null;
}

/**
 * Mounts a widget into `target` (an element) without a script tag, for
 * frameworks: `mount(el, {token, id?, connectors?, theme?})`. A widget with
 * the same id is replaced. Answers the widget (`setToken`, `refresh`, `destroy`).
 */
export function mount(target, options = {}) {
  const id = options.id || `switchboard-widget-${++anonymous}`;
  REGISTRY.get(id)?.destroy();
  const widget = new Widget(id, { ...options, place: (el) => target.append(el) });
  REGISTRY.set(id, widget);
  return widget;
}

/** The widget with this id, if there is one. */
export function get(id) {
  return REGISTRY.get(id);
}

/** Every widget on the page. */
export function widgets() {
  return [...REGISTRY.values()];
}

function isOurs(node) {
  return node instanceof HTMLScriptElement && node.src === SELF;
}

function fromScript(script) {
  if (script.switchboardWidget && !script.switchboardWidget.destroyed) return;
  const id = script.id || `switchboard-widget-${++anonymous}`;
  REGISTRY.get(id)?.destroy();
  const place = (el) => {
    const selector = script.getAttribute("target");
    const target = selector ? document.querySelector(selector) : null;
    if (target) target.append(el);
    else if (script.parentElement && script.parentElement !== document.head) script.after(el);
    else document.body.append(el);
  };
  const options = { script, place };
  for (const a of ATTRIBUTES) options[a] = script.getAttribute(a);
  const widget = new Widget(id, options);
  script.switchboardWidget = widget;
  REGISTRY.set(id, widget);
}

function scan(node, found) {
  if (isOurs(node)) found.push(node);
  else if (node.querySelectorAll) for (const s of node.querySelectorAll("script[src]")) if (isOurs(s)) found.push(s);
}

function watch() {
  for (const s of document.querySelectorAll("script[src]")) if (isOurs(s)) fromScript(s);
  new MutationObserver((records) => {
    for (const r of records) {
      if (r.type === "attributes") {
        const w = r.target.switchboardWidget;
        if (w && isOurs(r.target)) w.configure(r.attributeName, r.target.getAttribute(r.attributeName));
        continue;
      }
      const removed = [];
      for (const n of r.removedNodes) scan(n, removed);
      for (const s of removed) if (!s.isConnected) s.switchboardWidget?.destroy();
      const added = [];
      for (const n of r.addedNodes) scan(n, added);
      for (const s of added) if (s.isConnected) fromScript(s);
    }
  }).observe(document.documentElement, { childList: true, subtree: true, attributes: true, attributeFilter: ATTRIBUTES });
}

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", watch, { once: true });
else watch();
