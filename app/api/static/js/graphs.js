// Graphs of one service (the overview: every core scope at once) or of one scope, live.
//
// The first message of /api/stream holds the whole window; each later one re-sends the last
// buckets (late panes, revisions) and adds the new ones. Both are merged the same way: cut the
// held series where the message starts, append it, drop what slid out of the window.
// Thresholds are dashed lines, firing intervals shaded, deploys vertical lines with versions.

import { api } from "./api.js";
import { clock, h } from "./dom.js";

const RED = "#c62828";
const ORANGE = "#ef6c00";
const AMBER = "#f9a825";
const GREEN = "#2e7d32";
const BLUE = "#1565c0";
const PURPLE = "#6a1b9a";
const TEAL = "#00838f";
const GREY = "#616161";
const SEVERITY = { CRITICAL: RED, HIGH: ORANGE, MEDIUM: AMBER, LOW: GREY };
const DEPLOY = { succeeded: BLUE, started: GREY, failed: RED, rolled_back: PURPLE };
const BOT_LEVELS = ["crashed", "offline", "error", "restarted", "online"];

const percent = { factor: 100, unit: "%" };
const ms = { unit: "ms" };
// The charts each kind of scope gets; a series' name is the API's, `factor` scales it for show.
const CHARTS = {
  endpoint: [
    { id: "errors", title: "Error rate (5xx)", ...percent, series: [{ name: "error_rate", label: "error rate", color: RED }] },
    {
      id: "latency",
      title: "Latency p50 / p95 / p99",
      ...ms,
      series: [
        { name: "p50_ms", label: "p50", color: GREEN },
        { name: "p95_ms", label: "p95", color: ORANGE },
        { name: "p99_ms", label: "p99", color: RED },
      ],
    },
    { id: "rps", title: "Requests per second", unit: "/s", series: [{ name: "rps", label: "requests/s", color: BLUE }] },
  ],
  host: [
    {
      id: "resources",
      title: "CPU and memory",
      unit: "%",
      series: [
        { name: "cpu", label: "CPU (max)", color: PURPLE },
        { name: "mem", label: "memory (max)", color: TEAL },
      ],
    },
  ],
  queue: [
    {
      id: "queue",
      title: "Queue depth and its trend",
      unit: "tasks",
      series: [
        { name: "depth", label: "depth", color: BLUE },
        { name: "growth", label: "growth (tasks/s)", color: ORANGE, scale: "trend" },
      ],
    },
  ],
  check: [
    {
      id: "integrity",
      title: "Integrity checks (per pane)",
      unit: "checks",
      points: true,
      series: [
        { name: "checks", label: "checks", color: GREEN },
        { name: "failures", label: "failures", color: RED },
      ],
    },
  ],
  service: [
    {
      id: "bots",
      title: "Bots",
      unit: "bots",
      needs: "bots_online",
      series: [
        { name: "bots_online", label: "online", color: GREEN },
        { name: "bots_errors", label: "with errors", color: ORANGE },
        { name: "bots_offline", label: "offline", color: RED },
      ],
    },
  ],
  bot: [{ id: "status", title: "Bot status", unit: "", levels: BOT_LEVELS, series: [{ name: "status", label: "status", color: BLUE }] }],
};
const DIMENSION_TITLE = { endpoint: "Endpoint", host: "Host", queue: "Queue", check: "Integrity check", service: "Service", bot: "Bot" };

// What the page holds: the window's data by scope, and the charts drawn from it.
const held = { query: null, t: [], scopes: new Map(), deploys: [], meta: null, charts: [] };
let source = null;
let generation = 0; // each showGraphs call; a slower earlier one gives way to the latest

window.alertpipe = { graphs: held }; // for the browser tests: the data each chart draws

const scopeId = (s) => `${s.dimension}|${s.key}`;

function values(scope, series, spec) {
  const raw = scope.series[series.name] || [];
  if (spec.levels) return raw.map((v) => (v === null ? null : spec.levels.indexOf(v)));
  const factor = spec.factor || 1;
  return raw.map((v) => (v === null ? null : v * factor));
}

function chartData(chart) {
  const scope = held.scopes.get(chart.scopeId);
  return [held.t, ...chart.spec.series.map((s) => values(scope, s, chart.spec))];
}

// Three significant digits at most, no trailing zeros: 0.25%, 12.5%, 350 ms, 1.5 s.
function number(v, unit) {
  if (v === null || v === undefined) return "–";
  const short = (x) => String(Number(Math.abs(x) >= 1000 ? x.toFixed(0) : x.toPrecision(3)));
  if (unit === "%") return `${short(v)}%`;
  if (unit === "ms") return Math.abs(v) >= 1000 ? `${short(v / 1000)} s` : `${short(v)} ms`;
  return short(v);
}

// --- marks: thresholds, firing intervals, deploys ---------------------------------------------

function seriesScale(chart, name) {
  const found = chart.spec.series.find((s) => s.name === name);
  return found ? found.scale || "y" : null;
}

function shadeFiring(u, chart) {
  const scope = held.scopes.get(chart.scopeId);
  const names = new Set(chart.spec.series.map((s) => s.name));
  const { ctx, bbox } = u;
  const now = held.t.length ? held.t[held.t.length - 1] + held.meta.step_ms / 1000 : 0;
  for (const f of scope.firing) {
    if (f.series && !names.has(f.series) && f.series !== "status") continue;
    const x0 = Math.max(bbox.left, u.valToPos(f.from_ms / 1000, "x", true));
    const x1 = Math.min(bbox.left + bbox.width, u.valToPos(f.to_ms === null ? now : f.to_ms / 1000, "x", true));
    if (x1 <= x0) continue;
    ctx.fillStyle = `${SEVERITY[f.severity] || RED}26`;
    ctx.fillRect(x0, bbox.top, x1 - x0, bbox.height);
  }
}

// Rules with the same line (queue growth > 0.5 at MEDIUM, and at HIGH with bot errors) are
// drawn once, named together.
function sameLines(thresholds) {
  const lines = new Map();
  for (const t of thresholds) {
    const key = `${t.series}|${t.comparison}|${t.value}`;
    const seen = lines.get(key);
    lines.set(key, seen ? { ...seen, severity: seen.severity, also: [...seen.also, t.severity] } : { ...t, also: [] });
  }
  return [...lines.values()];
}

function drawThresholds(u, chart) {
  const scope = held.scopes.get(chart.scopeId);
  const { ctx, bbox } = u;
  const dpr = devicePixelRatio || 1;
  const above = [];
  let lastY = null;
  ctx.save();
  ctx.font = `${11 * dpr}px system-ui, sans-serif`;
  ctx.setLineDash([6 * dpr, 4 * dpr]);
  ctx.lineWidth = 1.5 * dpr;
  for (const t of sameLines(scope.thresholds)) {
    const scale = seriesScale(chart, t.series);
    if (!scale) continue;
    const value = t.value * (chart.spec.factor || 1);
    const what = chart.spec.series.length > 1 ? `${chart.spec.series.find((x) => x.name === t.series).label} ` : "";
    const severities = [t.severity, ...t.also.filter((x) => x !== t.severity)].join("/");
    const label = `${severities}: ${what}${t.comparison} ${number(value, t.series === "growth" ? "/s" : chart.spec.unit)}`;
    const max = u.scales[scale].max;
    if (value > max) {
      above.push(label);
      continue;
    }
    const y = u.valToPos(value, scale, true);
    ctx.strokeStyle = SEVERITY[t.severity] || GREY;
    ctx.fillStyle = ctx.strokeStyle;
    ctx.beginPath();
    ctx.moveTo(bbox.left, y);
    ctx.lineTo(bbox.left + bbox.width, y);
    ctx.stroke();
    // At the left (older data, usually calm); a label that would overlap the one before
    // goes under its line instead.
    const crowded = lastY !== null && Math.abs(y - lastY) < 14 * dpr;
    ctx.textAlign = "left";
    ctx.fillText(label, bbox.left + 6 * dpr, crowded ? y + 13 * dpr : y - 4 * dpr);
    lastY = y;
  }
  ctx.restore();
  chart.above.textContent = above.length ? `thresholds above the graph: ${above.join(", ")}` : "";
}

// A deploy's events (started, then succeeded or failed) make one mark: where it started,
// coloured and named by how it ended.
function deployMarks() {
  const marks = new Map();
  for (const d of held.deploys) {
    const seen = marks.get(d.version);
    marks.set(d.version, { ts: seen ? seen.ts : d.ts, version: d.version, status: d.status });
  }
  return [...marks.values()];
}

function drawDeploys(u) {
  const { ctx, bbox } = u;
  const dpr = devicePixelRatio || 1;
  const right = bbox.left + bbox.width;
  ctx.save();
  ctx.font = `bold ${11 * dpr}px system-ui, sans-serif`;
  ctx.lineWidth = 2 * dpr;
  for (const d of deployMarks()) {
    const x = u.valToPos(d.ts, "x", true);
    if (x < bbox.left || x > right) continue;
    const label = `deploy ${d.version}${d.status === "succeeded" ? "" : ` (${d.status.replace("_", " ")})`}`;
    ctx.strokeStyle = DEPLOY[d.status] || BLUE;
    ctx.fillStyle = ctx.strokeStyle;
    ctx.beginPath();
    ctx.moveTo(x, bbox.top);
    ctx.lineTo(x, bbox.top + bbox.height);
    ctx.stroke();
    const width = ctx.measureText(label).width;
    const onLeft = x + 4 * dpr + width > right;
    ctx.textAlign = onLeft ? "right" : "left";
    ctx.fillText(label, onLeft ? x - 4 * dpr : x + 4 * dpr, bbox.top + 12 * dpr);
  }
  ctx.restore();
}

// --- charts -----------------------------------------------------------------------------------

function makeChart(spec, scope, box) {
  const chart = { spec, scopeId: scopeId(scope.scope), title: spec.title, scope: scope.scope, above: box.querySelector(".above") };
  const levels = spec.levels;
  const axisValues = (u, ticks) => ticks.map((v) => (levels ? levels[v] || "" : number(v, spec.unit)));
  const scales = { x: { time: true }, y: { range: (u, min, max) => [Math.min(0, min), max > 0 ? max * 1.1 : 1] } };
  const axes = [{ space: 80 }, { size: 64, values: axisValues, splits: levels ? () => levels.map((_, i) => i) : undefined }];
  if (spec.series.some((s) => s.scale === "trend")) {
    scales.trend = { range: (u, min, max) => { const m = Math.max(1, Math.abs(min), Math.abs(max)); return [-m * 1.1, m * 1.1]; } };
    axes.push({ scale: "trend", side: 1, size: 50, grid: { show: false }, values: (u, ticks) => ticks.map((v) => v.toFixed(1)) });
  }
  const options = {
    width: Math.max(280, box.clientWidth - 16),
    height: 190,
    cursor: { sync: { key: "alertpipe" } },
    legend: { live: true },
    scales,
    axes,
    series: [
      { value: (u, v) => (v === null ? "–" : clock(v * 1000)) },
      ...spec.series.map((s) => ({
        label: s.label,
        stroke: s.color,
        width: 2,
        scale: s.scale || "y",
        paths: levels ? uPlot.paths.stepped({ align: 1 }) : undefined,
        points: spec.points ? { show: true, size: 6, fill: s.color } : undefined,
        value: (u, v) => (levels ? (v === null ? "–" : levels[v]) : number(v, s.scale === "trend" ? "/s" : spec.unit)),
      })),
    ],
    hooks: {
      drawClear: [(u) => shadeFiring(u, chart)],
      draw: [(u) => { drawThresholds(u, chart); drawDeploys(u); }],
    },
  };
  chart.u = new uPlot(options, chartData(chart), box);
  return chart;
}

function panelTitle(scope) {
  const s = scope.scope;
  return s.dimension === "service" ? `${s.service} (service-wide)` : `${DIMENSION_TITLE[s.dimension]}: ${s.key}`;
}

function render(container) {
  for (const chart of held.charts) chart.u.destroy();
  held.charts = [];
  container.replaceChildren();
  for (const scope of held.scopes.values()) {
    const specs = (CHARTS[scope.scope.dimension] || []).filter((spec) => !spec.needs || spec.needs in scope.series);
    if (!specs.length) continue;
    const boxes = specs.map((spec) => h("div", { class: "chart", "data-chart": spec.id }, h("h4", {}, spec.title, " ", h("span", { class: "above" }))));
    const panel = h("section", { class: `panel${specs.length > 1 ? " wide" : ""}`, "data-scope": scopeId(scope.scope) }, h("h3", { text: panelTitle(scope) }), h("div", { class: "charts" }, boxes));
    container.append(panel);
    specs.forEach((spec, i) => held.charts.push(makeChart(spec, scope, boxes[i])));
  }
  if (!held.charts.length) container.append(h("p", { class: "empty", text: "No panes of this scope yet." }));
}

function merge(payload) {
  const start = payload.t.length ? payload.t[0] : payload.to_ms / 1000;
  const cut = held.t.findIndex((t) => t >= start);
  const keep = cut === -1 ? held.t.length : cut;
  const oldest = payload.to_ms / 1000 - held.query.minutes * 60;
  const inWindow = held.t.slice(0, keep).findIndex((t) => t >= oldest);
  const drop = inWindow === -1 ? keep : inWindow;
  const fresh = [];
  held.t = held.t.slice(drop, keep).concat(payload.t);
  for (const scope of payload.scopes) {
    const id = scopeId(scope.scope);
    const before = held.scopes.get(id);
    if (!before) fresh.push(id);
    const series = {};
    for (const [name, list] of Object.entries(scope.series)) {
      const old = before && before.series[name] ? before.series[name].slice(drop, keep) : new Array(keep - drop).fill(null);
      series[name] = old.concat(list);
    }
    held.scopes.set(id, { ...scope, series });
  }
  held.deploys = payload.deploys;
  return fresh.length > 0;
}

function update(container, payload, status) {
  if (payload.error) {
    container.replaceChildren(h("p", { class: "empty", text: payload.message || payload.error }));
    return;
  }
  held.meta = payload;
  if (merge(payload) || !held.charts.length) render(container);
  else for (const chart of held.charts) chart.u.setData(chartData(chart));
  held.updates = (held.updates || 0) + 1;
  status.textContent = `live · updated ${clock(Date.now())} · ${held.t.length} points of ${payload.step_ms / 1000} s`;
}

function streamUrl(query) {
  const params = new URLSearchParams({ service: query.service, minutes: query.minutes });
  if (query.scope) {
    const [dimension, ...key] = query.scope.split("|");
    params.set("dimension", dimension);
    params.set("key", key.join("|"));
  }
  return `/api/stream?${params}`;
}

export function stopGraphs() {
  generation += 1;
  if (source) source.close();
  source = null;
  for (const chart of held.charts) chart.u.destroy();
  held.charts = [];
}

function select(name, options, selected, onchange) {
  return h(
    "label",
    { class: "control" },
    name,
    h("select", { name, onchange }, options.map(([value, label]) => h("option", { value, selected: value === selected }, label))),
  );
}

const RANGES = [[1, "last minute"], [5, "last 5 min"], [15, "last 15 min"], [30, "last 30 min"], [60, "last hour"], [180, "last 3 hours"], [360, "last 6 hours"]];

export async function showGraphs(view, params) {
  stopGraphs();
  const mine = ++generation;
  const found = await api("GET", "/api/scopes");
  if (mine !== generation) return;
  const services = Object.keys(found.services);
  const asked = params.get("service");
  if (!services.length && !asked) {
    view.replaceChildren(h("p", { class: "empty", text: "No telemetry yet: the graphs appear once panes flow on metrics.panes." }));
    setTimeout(() => mine === generation && showGraphs(view, params), 3000);
    return;
  }
  // A service asked for by name is kept even before its first pane: the stream says "not
  // found" until it arrives, then draws.
  const service = asked || services[0];
  if (!services.includes(service)) services.push(service);
  const scopes = found.services[service] || [];
  const scopeIds = scopes.map(scopeId);
  const scope = scopeIds.includes(params.get("scope")) ? params.get("scope") : "";
  const ranges = RANGES.filter(([m]) => m * 60 <= found.retention_s);
  const minutes = Number(params.get("minutes")) || 15;
  const go = (changes) => {
    const next = new URLSearchParams({ service, scope, minutes, ...changes });
    if (!next.get("scope")) next.delete("scope");
    location.hash = `#/graphs?${next}`;
  };
  const status = h("span", { class: "status", text: "connecting…" });
  const container = h("div", { class: "panels" });
  view.replaceChildren(
    h(
      "div",
      { class: "toolbar" },
      select("service", services.map((s) => [s, s]), service, (e) => go({ service: e.target.value, scope: "" })),
      select("scope", [["", "Overview (every endpoint)"], ...scopes.map((s) => [scopeId(s), `${s.dimension}: ${s.key}`])], scope, (e) => go({ scope: e.target.value })),
      select("range", ranges.map(([m, label]) => [String(m), label]), String(minutes), (e) => go({ minutes: e.target.value })),
      status,
    ),
    container,
  );
  held.query = { service, scope, minutes };
  held.t = [];
  held.scopes = new Map();
  held.updates = 0;
  source = new EventSource(streamUrl(held.query));
  source.addEventListener("series", (e) => update(container, JSON.parse(e.data), status));
  source.onerror = () => (status.textContent = "reconnecting…");
}

window.addEventListener("resize", () => {
  for (const chart of held.charts) {
    const box = chart.u.root.parentElement;
    chart.u.setSize({ width: Math.max(280, box.clientWidth - 16), height: 190 });
  }
});
