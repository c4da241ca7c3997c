// The operator console's live figures: samples /admin/console/figures every
// 2 s and draws, from the differences between samples, requests and errors
// per second and the p50 / p99 of request and adapter-call latency, as SVG
// lines (the last 60 samples). No dependencies, no external assets.

const SAMPLE_MS = 2000;
const KEEP = 60;
const SVG = "http://www.w3.org/2000/svg";

/** The q-quantile (seconds) of the observations between two cumulative histograms. */
function quantile(before, after, q) {
  const counts = after.counts.map((c, i) => c - (before.counts[i] || 0));
  const total = counts[counts.length - 1] || 0;
  if (total <= 0) return null;
  const rank = q * total;
  for (let i = 0; i < counts.length; i++) {
    if (counts[i] >= rank) {
      const le = after.le[i];
      return le >= Number.MAX_VALUE ? after.le[i - 1] || null : le;
    }
  }
  return null;
}

function draw(svg, series) {
  const width = 300;
  const height = 80;
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("preserveAspectRatio", "none");
  const max = Math.max(1e-9, ...series.flatMap((s) => s.points.filter((v) => v !== null)));
  const children = [];
  const axis = document.createElementNS(SVG, "line");
  for (const [k, v] of Object.entries({ x1: 0, x2: width, y1: height - 0.5, y2: height - 0.5, class: "axis" })) axis.setAttribute(k, v);
  children.push(axis);
  for (const s of series) {
    const step = width / Math.max(1, KEEP - 1);
    const offset = KEEP - s.points.length;
    const d = s.points
      .map((v, i) => (v === null ? null : `${((offset + i) * step).toFixed(1)},${(height - 2 - (v / max) * (height - 6)).toFixed(1)}`))
      .filter(Boolean)
      .join(" ");
    const line = document.createElementNS(SVG, "polyline");
    line.setAttribute("points", d);
    line.setAttribute("class", `line ${s.className || ""}`);
    children.push(line);
  }
  svg.replaceChildren(...children);
}

const fmt = (v, digits = 1) => (v === null || v === undefined ? "—" : Number(v).toFixed(digits));

function start(root) {
  const charts = Object.fromEntries([...root.querySelectorAll("[data-chart]")].map((f) => [f.dataset.chart, f]));
  const history = { requests: [], errors: [], p50: [], p99: [], a50: [], a99: [] };
  let previous = null;
  const push = (key, v) => {
    history[key].push(v);
    if (history[key].length > KEEP) history[key].shift();
  };
  async function sample() {
    let now;
    try {
      const r = await fetch(root.dataset.source, { headers: { accept: "application/json" } });
      if (r.status === 401) {
        location.assign("/admin");
        return;
      }
      if (!r.ok) return;
      now = await r.json();
    } catch {
      return; // the next sample tries again
    }
    if (previous) {
      const secs = Math.max(0.001, (now.at - previous.at) / 1000);
      const errors = (m) => Object.values(m).reduce((a, b) => a + b, 0);
      push("requests", Math.max(0, (now.requests - previous.requests) / secs));
      push("errors", Math.max(0, (errors(now.errors) - errors(previous.errors)) / secs));
      const ms = (v) => (v === null ? null : v * 1000);
      push("p50", ms(quantile(previous.requestSeconds, now.requestSeconds, 0.5)));
      push("p99", ms(quantile(previous.requestSeconds, now.requestSeconds, 0.99)));
      push("a50", ms(quantile(previous.adapterSeconds, now.adapterSeconds, 0.5)));
      push("a99", ms(quantile(previous.adapterSeconds, now.adapterSeconds, 0.99)));
      const last = (k) => history[k][history[k].length - 1];
      const show = (name, series, text) => {
        const f = charts[name];
        if (!f) return;
        draw(f.querySelector("svg"), series);
        f.querySelector(".value").textContent = text;
      };
      show("requests", [{ points: history.requests }], `${fmt(last("requests"))} req/s`);
      show("latency", [{ points: history.p50 }, { points: history.p99, className: "second" }], `p50 ≤ ${fmt(last("p50"), 2)} ms · p99 ≤ ${fmt(last("p99"), 2)} ms`);
      show("adapter", [{ points: history.a50 }, { points: history.a99, className: "second" }], `p50 ≤ ${fmt(last("a50"), 2)} ms · p99 ≤ ${fmt(last("a99"), 2)} ms`);
      show("errors", [{ points: history.errors, className: "bad" }], `${fmt(last("errors"), 2)} errors/s`);
    }
    const body = root.querySelector("table.errors tbody");
    if (body) {
      const rows = Object.entries(now.errors).sort((a, b) => b[1] - a[1]);
      body.replaceChildren(
        ...(rows.length
          ? rows.map(([code, n]) => {
              const tr = document.createElement("tr");
              tr.dataset.code = code;
              const c = document.createElement("td");
              c.textContent = code;
              const v = document.createElement("td");
              v.className = "num";
              v.textContent = String(n);
              tr.append(c, v);
              return tr;
            })
          : [Object.assign(document.createElement("tr"), { innerHTML: '<td colspan="2" class="muted">None yet.</td>' })]),
      );
    }
    previous = now;
    root.dataset.samples = String(Number(root.dataset.samples || 0) + 1);
  }
  sample();
  setInterval(sample, SAMPLE_MS);
}

const root = document.getElementById("figures");
if (root) start(root);
