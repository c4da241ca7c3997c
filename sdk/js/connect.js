// @switchboard/connect: lets a product's customers connect their CRM from
// the product's own frontend. No dependencies; an ES module. Types: connect.d.ts.
//
//   import { connect } from "https://switchboard.example.com/sdk/connect.js";
//   await connect("pipedrive", secretFromYourBackend, (event) => console.log(event));
//
// `secret` is either a JWT the product's backend signed (RS256, with the
// workspace's key) or a session token (`cs_…`) its backend opened with
// `POST /api/v1/connect-sessions`; or a function answering one of them (or a
// promise of it), called after the window opened, so fetching it first does
// not cost the click its popup.

const SOURCE = "switchboard-connect";

/** The Switchboard host this module was loaded from. */
const MODULE_HOST = (() => {
  try {
    return new URL(import.meta.url).origin;
  } catch {
    return "";
  }
})();

/** How often the library looks whether the user closed the window (ms). */
const CLOSED_POLL_MS = 300;

function connectError(code, message, correlationId) {
  const error = new Error(message);
  error.type = "error";
  error.code = code;
  error.correlationId = correlationId;
  return error;
}

/** Trades a signed secret for a connect session (a `cs_…` token is one already). */
async function sessionToken(host, connector, given) {
  let secret = given;
  if (typeof given === "function") {
    try {
      secret = await given();
    } catch (e) {
      throw connectError(e?.code || "SECRET_UNAVAILABLE", e?.message || "The connect secret could not be had", e?.correlationId);
    }
  }
  if (typeof secret === "string" && secret.startsWith("cs_")) return secret;
  let response;
  try {
    response = await fetch(`${host}/connect/sessions`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ connector, secret }),
    });
  } catch {
    throw connectError("NETWORK_ERROR", `Switchboard at ${host} could not be reached`);
  }
  let body = {};
  try {
    body = await response.json();
  } catch {
    // a non-JSON answer: reported below by status
  }
  if (!response.ok) {
    throw connectError(body.code || "CONNECT_FAILED", body.detail || `HTTP ${response.status}`, body.correlationId);
  }
  return body.sessionToken;
}

function openPopup(url, config) {
  const width = config.width || 480;
  const height = config.height || 640;
  const left = Math.max(0, (window.screenX || 0) + ((window.outerWidth || width) - width) / 2);
  const top = Math.max(0, (window.screenY || 0) + ((window.outerHeight || height) - height) / 2);
  const features = `popup=yes,width=${width},height=${height},left=${Math.round(left)},top=${Math.round(top)}`;
  try {
    return window.open(url, "switchboard-connect", features);
  } catch {
    return null;
  }
}

/**
 * A small dialog for when the browser blocked the popup: its button is a
 * user gesture, which popup blockers allow.
 */
function fallbackDialog(onContinue, onCancel) {
  const host = document.createElement("div");
  host.setAttribute("data-switchboard-connect", "");
  const root = host.attachShadow({ mode: "open" });
  root.innerHTML = `
    <style>
      .backdrop { position: fixed; inset: 0; background: rgb(0 0 0 / .45); display: grid; place-items: center; z-index: 2147483647; font: 16px system-ui, sans-serif; }
      .box { background: white; color: #111; padding: 1.25rem; border-radius: .6rem; max-width: 22rem; box-shadow: 0 10px 30px rgb(0 0 0 / .3); }
      button { font: inherit; padding: .5rem .9rem; border-radius: .4rem; border: 1px solid #999; cursor: pointer; margin-inline-end: .5rem; }
      .go { background: #2457d6; color: white; border-color: #2457d6; }
    </style>
    <div class="backdrop"><div class="box" role="dialog" aria-modal="true" aria-labelledby="t">
      <p id="t">Your browser blocked the window to connect your CRM.</p>
      <button class="go" type="button">Continue</button><button class="cancel" type="button">Cancel</button>
    </div></div>`;
  root.querySelector(".go").addEventListener("click", onContinue);
  root.querySelector(".cancel").addEventListener("click", onCancel);
  document.body.append(host);
  root.querySelector(".go").focus();
  return () => host.remove();
}

/**
 * Opens Switchboard's connect window for `connector`.
 *
 * @param {string} connector the connector id (`pipedrive`, `clio`, …)
 * @param {string | (() => string | Promise<string>)} secret a signed connect
 *   secret (JWT) or a session token (`cs_…`), or a function answering one
 * @param {(event: object) => void} [callback] gets `{type: "READY" | "INSTALLED" | "error", message, …}`
 * @param {{host?: string, width?: number, height?: number}} [config]
 * @returns {Promise<boolean>} `true` once the integration is installed; rejects
 *   with `{type: "error", code, message, correlationId}` (`USER_CLOSED` when the
 *   window was closed first)
 */
export function connect(connector, secret, callback, config = {}) {
  const host = String(config.host || MODULE_HOST).replace(/\/+$/, "");
  const hostOrigin = new URL(host).origin;
  const emit = (event) => {
    if (typeof callback !== "function") return;
    try {
      callback(event);
    } catch (e) {
      setTimeout(() => {
        throw e;
      });
    }
  };
  return new Promise((resolve, reject) => {
    let settled = false;
    let popup = null;
    let closeDialog = null;
    let poll = null;

    const cleanup = () => {
      window.removeEventListener("message", onMessage);
      if (poll) clearInterval(poll);
      if (closeDialog) closeDialog();
    };
    const succeed = () => {
      if (settled) return;
      settled = true;
      cleanup();
      resolve(true);
    };
    const fail = (code, message, correlationId) => {
      if (settled) return;
      settled = true;
      cleanup();
      const error = connectError(code, message, correlationId);
      emit({ type: "error", code, message, correlationId });
      if (popup && !popup.closed && code !== "USER_CLOSED") popup.close();
      reject(error);
    };
    const watch = () => {
      if (poll) clearInterval(poll);
      poll = setInterval(() => {
        if (popup && popup.closed) fail("USER_CLOSED", "The connect window was closed before the CRM was connected");
      }, CLOSED_POLL_MS);
    };

    function onMessage(event) {
      if (event.origin !== hostOrigin || !event.data || event.data.source !== SOURCE) return;
      if (popup && event.source !== popup) return;
      const d = event.data;
      if (d.type === "READY") {
        emit({ type: "READY", message: "The connect window is ready", connector: d.connector });
      } else if (d.type === "INSTALLED") {
        emit({
          type: "INSTALLED",
          message: d.status === "reconnected" ? "The integration was reconnected" : "The integration is installed",
          integrationId: d.integrationId,
          status: d.status,
          connector: d.connector,
        });
        if (popup && !popup.closed) popup.close();
        succeed();
      } else if (d.type === "error") {
        fail(d.code || "CONNECT_FAILED", d.message || "The connect failed", d.correlationId);
      }
    }
    window.addEventListener("message", onMessage);

    // Opened now, while the caller's click still counts as a user gesture;
    // pointed at the connect page once the session is open.
    popup = openPopup("about:blank", config);

    sessionToken(host, connector, secret).then(
      (token) => {
        if (settled) return;
        const q = new URLSearchParams({ session: token, origin: window.location.origin });
        const url = `${host}/connect/${encodeURIComponent(connector)}?${q}`;
        if (popup && !popup.closed) {
          popup.location.href = url;
          watch();
          return;
        }
        // Blocked: ask for a click, then open it.
        closeDialog = fallbackDialog(
          () => {
            popup = openPopup(url, config);
            if (!popup) return;
            closeDialog();
            closeDialog = null;
            watch();
          },
          () => fail("USER_CLOSED", "The connect was cancelled"),
        );
      },
      (e) => fail(e.code || "CONNECT_FAILED", e.message, e.correlationId),
    );
  });
}

export default connect;
