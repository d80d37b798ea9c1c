// The web UI's shell: routing on the URL's hash, the time-range picker, live refresh.
import { RANGES, absoluteRange, api, clear, errorBox, h, hashFor, parseHash } from "./lib.js";
import { renderFinding } from "./finding.js";
import { renderModel, renderModels } from "./models.js";
import { renderSql } from "./sql.js";
import { renderSearch, renderTrace } from "./traces.js";

const PAGES = {
  models: { render: renderModels, title: () => "Models", ranged: "1h" },
  model: { render: renderModel, title: (r) => r.id, ranged: "6h" },
  finding: { render: renderFinding, title: (r) => "Finding " + r.id, live: false },
  traces: { render: renderSearch, title: () => "Traces", ranged: "1h" },
  trace: { render: renderTrace, title: (r) => "Trace " + r.id.slice(0, 12) },
  sql: { render: renderSql, title: () => "SQL" },
};
const REFRESH_KEY = "modeltrace.refresh";

const root = document.getElementById("page");
const rangeSelect = document.getElementById("range");
const absolute = document.getElementById("absolute");
const startInput = document.getElementById("abs-start");
const endInput = document.getElementById("abs-end");
const refreshSelect = document.getElementById("refresh");
const pauseButton = document.getElementById("pause");
const updated = document.getElementById("updated");

let current = null; // {page, ctx, route}
let generation = 0;
let timer = null;
let paused = false;
let settings = null;

function makeContext(gen, route) {
  const charts = new Map();
  const cleanups = [];
  return {
    alive: () => gen === generation,
    route,
    setParams(changes) {
      const params = new URLSearchParams(route.params);
      for (const [k, v] of Object.entries(changes)) {
        if (v === "" || v === null || v === undefined) params.delete(k);
        else params.set(k, v);
      }
      location.hash = hashFor(route.view, route.id, Object.fromEntries(params));
    },
    replaceParams(changes) {
      for (const [k, v] of Object.entries(changes)) {
        if (v === "" || v === null || v === undefined) route.params.delete(k);
        else route.params.set(k, v);
      }
      history.replaceState(null, "", hashFor(route.view, route.id, Object.fromEntries(route.params)));
    },
    chart(box, make, emptyText = "No data.") {
      const old = charts.get(box);
      if (old) old.destroy();
      charts.delete(box);
      box.replaceChildren();
      const chart = make();
      if (chart) charts.set(box, chart);
      else box.append(h("p", { class: "muted empty" }, emptyText));
    },
    onDestroy: (fn) => cleanups.push(fn),
    settings: async () => (settings ||= await api("/api/ui")),
    destroy() {
      for (const c of charts.values()) c.destroy();
      charts.clear();
      for (const fn of cleanups) fn();
    },
  };
}

async function load(reason) {
  if (!current) return;
  const { page, ctx } = current;
  updated.textContent = "updating …";
  root.dataset.state = "loading";
  try {
    await page.load();
    if (!ctx.alive()) return;
    updated.textContent = "updated " + new Date().toISOString().slice(11, 19) + " UTC";
    root.dataset.state = "ready";
  } catch (err) {
    if (!ctx.alive()) return;
    root.dataset.state = "error";
    updated.textContent = "";
    if (reason === "refresh") updated.textContent = "refresh failed: " + err.message;
    else clear(root, errorBox(err), h("p", {}, h("a", { href: "#", onclick: (e) => { e.preventDefault(); location.reload(); } }, "Reload the page")));
  }
}

function show() {
  const route = parseHash();
  const spec = PAGES[route.view];
  if (current) current.ctx.destroy();
  generation++;
  root.dataset.gen = String(generation);
  root.dataset.state = "loading";
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.view === route.view || (route.view === "model" && a.dataset.view === "models") || (route.view === "trace" && a.dataset.view === "traces"));
  if (!spec) {
    current = null;
    root.dataset.state = "error";
    clear(root, errorBox(`There is no page "${route.view}".`), h("p", {}, h("a", { href: "#/models" }, "See every model")));
    return;
  }
  document.title = spec.title(route) + " · modeltrace";
  syncPicker(route, spec);
  const ctx = makeContext(generation, route);
  clear(root, h("p", { class: "muted" }, "loading …"));
  const page = spec.render(root, route, ctx);
  current = { page, ctx, route, spec };
  load("show");
  schedule();
}

function syncPicker(route, spec) {
  document.getElementById("picker").hidden = !spec.ranged;
  if (!spec.ranged) return;
  const p = route.params;
  const isAbsolute = absoluteRange(p);
  rangeSelect.value = isAbsolute ? "absolute" : p.get("range") || spec.ranged;
  absolute.hidden = !isAbsolute;
  if (isAbsolute) {
    startInput.value = new Date(Number(p.get("start"))).toISOString().slice(0, 16);
    endInput.value = new Date(Number(p.get("end"))).toISOString().slice(0, 16);
  }
}

function setRange(changes) {
  if (!current) return;
  current.ctx.setParams(changes);
}

function schedule() {
  clearInterval(timer);
  timer = null;
  const seconds = Number(refreshSelect.value);
  // a page that redraws as a whole (a finding) would lose the reader's place: not refreshed
  const live = current && current.page.live !== false && current.spec.live !== false;
  pauseButton.disabled = !seconds || !live;
  pauseButton.textContent = paused ? "Resume" : "Pause";
  if (seconds && live && !paused) timer = setInterval(() => load("refresh"), seconds * 1000);
}

function init() {
  clear(rangeSelect, RANGES.map(([key, label]) => h("option", { value: key }, label)), h("option", { value: "absolute" }, "absolute …"));
  rangeSelect.addEventListener("change", () => {
    if (rangeSelect.value === "absolute") {
      absolute.hidden = false;
      const end = new Date();
      const start = new Date(end.getTime() - 3600000);
      startInput.value = start.toISOString().slice(0, 16);
      endInput.value = end.toISOString().slice(0, 16);
      return;
    }
    setRange({ range: rangeSelect.value, start: "", end: "" });
  });
  document.getElementById("abs-apply").addEventListener("click", () => {
    const start = Date.parse(startInput.value + ":00Z");
    const end = Date.parse(endInput.value + ":00Z");
    if (!(start < end)) {
      updated.textContent = "the start must be before the end";
      return;
    }
    setRange({ start, end, range: "" });
  });
  refreshSelect.value = localStorage.getItem(REFRESH_KEY) ?? "30";
  refreshSelect.addEventListener("change", () => {
    localStorage.setItem(REFRESH_KEY, refreshSelect.value);
    schedule();
  });
  pauseButton.addEventListener("click", () => {
    paused = !paused;
    schedule();
  });
  window.addEventListener("hashchange", show);
  show();
}

init();
