// The live dashboard: fetches each panel's JSON and draws it with uPlot.
// Every panel element carries data-points (points plotted), data-range and
// data-state (loading, ok, empty, error) so that tests and users can see what happened.
"use strict";

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
  "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const charts = {};
let catalogue = null;

function params() {
  const q = new URLSearchParams();
  q.set("range", document.getElementById("range").value);
  for (const key of ["host", "group"]) {
    const value = document.getElementById(key).value.trim();
    if (value) q.set(key, value);
  }
  return q.toString();
}

function build() {
  const main = document.getElementById("views");
  for (const [view, title] of Object.entries(catalogue.views)) {
    const section = document.createElement("section");
    section.id = "view-" + view;
    section.innerHTML = "<h2></h2><div class='grid'></div>";
    section.querySelector("h2").textContent = title;
    main.appendChild(section);
    for (const p of catalogue.panels.filter((x) => x.view === view)) {
      const el = document.createElement("div");
      el.className = "panel";
      el.id = "panel-" + p.id;
      el.dataset.source = p.source;
      el.dataset.points = "0";
      el.dataset.state = "loading";
      el.innerHTML = "<h3></h3><div class='chart'></div><div class='note'></div>" +
        "<div class='rows'></div>";
      el.querySelector("h3").textContent = p.title;
      section.querySelector(".grid").appendChild(el);
    }
  }
}

// uPlot wants one x array and aligned y arrays: merge every series' timestamps.
function align(series) {
  const xs = new Set();
  for (const s of series) for (const [t] of s.points) xs.add(t);
  const x = Array.from(xs).sort((a, b) => a - b);
  const index = new Map(x.map((t, i) => [t, i]));
  const ys = series.map((s) => {
    const y = new Array(x.length).fill(null);
    for (const [t, v] of s.points) y[index.get(t)] = v;
    return y;
  });
  return [x.map((t) => t / 1000), ...ys];
}

function draw(panel, el, body) {
  const chart = el.querySelector(".chart");
  if (charts[panel.id]) { charts[panel.id].destroy(); delete charts[panel.id]; }
  chart.textContent = "";
  if (!body.series.length || body.points === 0) {
    el.dataset.state = "empty";
    el.querySelector(".note").textContent = "no data in this range";
    return;
  }
  const opts = {
    width: 440, height: 200,
    scales: { x: { time: true } },
    series: [{}].concat(body.series.map((s, i) => ({
      label: s.label, stroke: COLORS[i % COLORS.length], width: 1.5,
      spanGaps: true, points: { show: panel.kind === "state" },
    }))),
    axes: [{}, { label: panel.unit, size: 60 }],
    legend: { show: body.series.length <= 8 },
  };
  charts[panel.id] = new uPlot(opts, align(body.series), chart);
  el.dataset.state = "ok";
}

function table(el, rows) {
  const box = el.querySelector(".rows");
  box.textContent = "";
  if (!rows.length) return;
  const t = document.createElement("table");
  const cols = ["window_start", "severity", "measurement", "field", "value",
    "expected", "score"];
  t.innerHTML = "<tr>" + cols.map((c) => "<th>" + c + "</th>").join("") + "</tr>";
  for (const r of rows.slice(0, 10)) {
    const tr = document.createElement("tr");
    for (const c of cols) {
      const td = document.createElement("td");
      const v = r[c];
      td.textContent = c === "window_start" ? new Date(v).toISOString() : String(v);
      tr.appendChild(td);
    }
    t.appendChild(tr);
  }
  box.appendChild(t);
}

async function refreshPanel(panel) {
  const el = document.getElementById("panel-" + panel.id);
  try {
    const r = await fetch("/api/panels/" + panel.id + "?" + params());
    const body = await r.json();
    if (!r.ok) {
      el.dataset.state = "error";
      el.dataset.points = "0";
      el.querySelector(".note").textContent = body.error;
      return;
    }
    el.querySelector(".note").textContent = "";
    draw(panel, el, body);
    table(el, body.rows || []);
    el.dataset.points = String(body.points);
    el.dataset.range = body.range;
  } catch (err) {
    el.dataset.state = "error";
    el.querySelector(".note").textContent = String(err);
  }
}

async function refreshHealth() {
  const box = document.getElementById("health");
  try {
    const h = await (await fetch("/api/health")).json();
    box.dataset.overall = h.overall;
    document.getElementById("overall").textContent = "health: " + h.overall;
    document.getElementById("services").textContent = "services: " +
      (h.services.map((s) => s.name + " " + s.state).join(", ") || "no supervisor");
    document.getElementById("lag").textContent = "lag: " + (h.lag === null
      ? "unknown"
      : Object.entries(h.lag).map(([g, s]) => g + " " + s).join(", ") || "no groups");
    document.getElementById("dlq").textContent = "DLQ: " +
      (h.dlq_rate === null ? "unknown" : h.dlq_rate.toFixed(2) + "/s");
  } catch (err) {
    box.dataset.overall = "error";
    document.getElementById("overall").textContent = "health: unreachable";
  }
}

async function refresh() {
  await Promise.all([refreshHealth(), ...catalogue.panels.map(refreshPanel)]);
  document.getElementById("updated").textContent =
    "updated " + new Date().toLocaleTimeString();
  document.body.dataset.refreshed = String(Date.now());
}

async function start() {
  catalogue = await (await fetch("/api/panels")).json();
  build();
  document.getElementById("controls").addEventListener("change", refresh);
  document.getElementById("controls").addEventListener("submit", (e) => {
    e.preventDefault(); refresh();
  });
  await refresh();
  setInterval(refresh, Number(document.body.dataset.refreshS) * 1000);
}

start();
