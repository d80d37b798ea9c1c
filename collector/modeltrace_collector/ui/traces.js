// Call search (with a duration histogram whose selection filters) and the trace view: a
// virtualised waterfall that stays responsive at 10,000 spans, and a span's ml.* decoded.
import { durationHistogram } from "./charts.js";
import { api, badge, clear, fmtMs, fmtNum, fmtTime, h, hashFor, rangeParams, section, sortableTable } from "./lib.js";
import { hotspotTable } from "./models.js";

const FIELDS = ["model", "version", "operation", "status", "min_ms", "max_ms", "attribute", "order"];

// -- search -------------------------------------------------------------------------------

export function renderSearch(root, route, ctx) {
  const params = route.params;
  const field = (name, attrs = {}) => h("input", { name, id: "f-" + name, value: params.get(name) || "", ...attrs });
  const modelSelect = h("select", { name: "model", id: "f-model" }, h("option", { value: "" }, "any model"));
  const status = h("select", { name: "status", id: "f-status" },
    [["", "any status"], ["ok", "ok"], ["error", "error"]].map(([v, t]) => h("option", { value: v, selected: (params.get("status") || "") === v }, t)));
  const order = h("select", { name: "order", id: "f-order" },
    [["newest", "newest first"], ["slowest", "slowest first"]].map(([v, t]) => h("option", { value: v, selected: (params.get("order") || "newest") === v }, t)));
  const form = h("form", { class: "search", id: "trace-search" },
    modelSelect, field("version", { placeholder: "version", size: 8 }), field("operation", { placeholder: "operation", size: 12 }), status,
    field("min_ms", { placeholder: "min ms", size: 6, inputmode: "decimal" }), field("max_ms", { placeholder: "max ms", size: 6, inputmode: "decimal" }),
    field("attribute", { placeholder: "attribute key=value", size: 22 }), order,
    h("button", { type: "submit", class: "primary" }, "Search"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const data = new FormData(form);
    const next = {};
    for (const n of FIELDS) next[n] = String(data.get(n) || "").trim();
    ctx.setParams(next);
  });
  const histBox = h("div", { class: "chart", id: "duration-histogram" });
  const summary = h("p", { class: "muted", id: "search-summary" });
  const results = h("div", { id: "results" });
  clear(root, h("div", { class: "page-head" }, h("h1", {}, "Traces")), form,
    section("Durations of the matching calls", h("p", { class: "legend-note" }, "drag over the histogram to keep the calls of that duration"), histBox, summary),
    section("Calls", results));

  async function load() {
    const query = { ...rangeParams(params, "1h"), limit: 100 };
    for (const n of FIELDS) if (params.get(n)) query[n] = params.get(n);
    const [models, found] = await Promise.all([api("/api/models", { window: "30d" }), api("/api/calls", query)]);
    if (!ctx.alive()) return;
    const names = [...new Set(models.models.map((m) => m.model))].sort();
    clear(modelSelect, h("option", { value: "" }, "any model"),
      names.map((n) => h("option", { value: n, selected: n === params.get("model") }, n)));
    const min = Number(params.get("min_ms") || 0);
    const max = Number(params.get("max_ms") || 0);
    ctx.chart(histBox, () => found.histogram.length ? durationHistogram(histBox, {
      bins: found.histogram,
      selected: [min, max],
      onSelect: (from, to) => ctx.setParams({ min_ms: from.toPrecision(3), max_ms: to.toPrecision(3) }),
    }) : null, "No call matches.");
    const shownNote = found.calls.length < found.total ? ` (the ${params.get("order") === "slowest" ? "slowest" : "newest"} ${found.calls.length} shown)` : "";
    clear(summary, `${fmtNum(found.total)} calls match the filters other than duration`,
      min || max ? `; the duration filter ${min ? fmtMs(min) : "0"} – ${max ? fmtMs(max) : "∞"} keeps ${fmtNum(found.calls.length)}${shownNote}` : shownNote, " ",
      min || max ? h("a", { href: "#", id: "clear-duration", onclick: (e) => { e.preventDefault(); ctx.setParams({ min_ms: "", max_ms: "" }); } }, "clear the duration filter") : null);
    clear(results, found.calls.length ? callsTable(found.calls) : h("p", { class: "muted" }, "No call matches these filters in the range."));
  }
  return { load };
}

function callsTable(calls) {
  return sortableTable([
    { key: "start_ms", label: "started", render: (r) => fmtTime(r.start_ms, true) },
    { key: "model", label: "model" },
    { key: "version", label: "version" },
    { key: "operation", label: "operation" },
    { key: "duration_ms", label: "duration", num: true, render: (r) => fmtMs(r.duration_ms) },
    { key: "status", label: "status", render: (r) => (r.status === "Error" ? badge(r.error_type || "error", "bad") : "ok") },
    { key: "host", label: "host" },
    { key: "rows", label: "rows", num: true },
    { key: "trace_id", label: "trace", render: (r) => h("a", { href: hashFor("trace", r.trace_id, { span: r.span_id }), class: "trace-link" }, r.trace_id.slice(0, 16) + "…") },
  ], calls, { rowAttrs: (r) => ({ "data-trace": r.trace_id, "data-duration": r.duration_ms }) });
}

// -- one trace ----------------------------------------------------------------------------

const ROW = 24; // px per waterfall row

export function renderTrace(root, route, ctx) {
  const id = route.id;
  const params = route.params;

  async function load() {
    const [trace, settings] = await Promise.all([api("/api/traces/" + encodeURIComponent(id), { view: "tree" }), ctx.settings()]);
    if (!ctx.alive()) return;
    const spans = trace.spans;
    const t0 = Math.min(...spans.map((s) => s.start_ns));
    const t1 = Math.max(...spans.map((s) => s.start_ns + s.duration_ns));
    const services = [...new Set(spans.map((s) => s.service))];
    const errors = spans.filter((s) => isError(s.status)).length;
    const detail = h("div", { id: "span-detail", class: "span-detail" });
    const waterfallBox = h("div", { class: "waterfall", id: "waterfall" });
    const jaeger = settings.jaeger_ui_url ? h("a", { class: "button", href: settings.jaeger_ui_url.replace(/\/$/, "") + "/trace/" + id, target: "_blank", rel: "noopener" }, "Open in Jaeger") : null;
    const controls = h("span", {},
      h("button", { type: "button", id: "collapse-all", onclick: () => wf.collapseAll() }, "Collapse all"),
      h("button", { type: "button", id: "expand-all", onclick: () => wf.expandAll() }, "Expand all"));
    clear(root,
      h("div", { class: "page-head" }, h("h1", {}, "Trace ", h("code", {}, id)), jaeger, controls),
      h("p", { class: "muted", id: "trace-facts" },
        `${fmtNum(spans.length)} span${spans.length === 1 ? "" : "s"}${trace.truncated ? ` (the first ${fmtNum(spans.length)}: the trace has more)` : ""} · ${fmtMs((t1 - t0) / 1e6)} · started ${fmtTime(t0 / 1e6, true)} · ${services.join(", ")}`,
        errors ? [" · ", badge(`${errors} failed`, "bad")] : null),
      h("div", { class: "trace-layout" }, waterfallBox, detail));
    const select = (span) => {
      ctx.replaceParams({ span: span.span_id });
      showSpan(detail, span, t0, trace.resources[span.resource]);
    };
    const wf = new Waterfall(waterfallBox, spans, { t0, t1, onSelect: select, selected: params.get("span") });
    const first = spans.find((s) => s.span_id === params.get("span")) || spans.find((s) => s.attributes["ml.model.name"]) || spans[0];
    if (first) {
      wf.reveal(first.span_id);
      showSpan(detail, first, t0, trace.resources[first.resource]);
    }
    ctx.onDestroy(() => wf.destroy());
  }
  return { load, live: false };
}

function isError(status) {
  return status === "Error" || status === "STATUS_CODE_ERROR";
}

export class Waterfall {
  constructor(box, spans, { t0, t1, onSelect, selected }) {
    this.t0 = t0;
    this.total = Math.max(1, t1 - t0);
    this.onSelect = onSelect;
    this.selected = selected;
    // a span id sent twice keeps its first span; a span whose parents loop back to it (or to
    // itself) is drawn as a root: whatever a client sends, the walks below end
    this.byId = new Map();
    for (const s of spans) if (!this.byId.has(s.span_id)) this.byId.set(s.span_id, s);
    const kept = [...this.byId.values()];
    const parentOf = (s) => (s.parent_span_id && s.parent_span_id !== s.span_id && this.byId.has(s.parent_span_id) ? s.parent_span_id : null);
    const rooted = new Set(); // spans known to reach a root
    const inLoop = new Set();
    for (const s of kept) {
      const path = [];
      const seen = new Set();
      let cur = s;
      while (cur && !rooted.has(cur.span_id) && !inLoop.has(cur.span_id)) {
        if (seen.has(cur.span_id)) {
          inLoop.add(cur.span_id); // the span where the walk came back: it becomes a root
          break;
        }
        seen.add(cur.span_id);
        path.push(cur.span_id);
        const parent = parentOf(cur);
        cur = parent ? this.byId.get(parent) : null;
      }
      for (const id of path) rooted.add(id);
    }
    this.parentOf = (s) => (inLoop.has(s.span_id) ? null : parentOf(s));
    this.children = new Map();
    this.roots = [];
    for (const s of kept) {
      const parent = this.parentOf(s);
      if (parent) (this.children.get(parent) || this.children.set(parent, []).get(parent)).push(s);
      else this.roots.push(s);
    }
    const byStart = (a, b) => a.start_ns - b.start_ns;
    this.roots.sort(byStart);
    for (const list of this.children.values()) list.sort(byStart);
    this.collapsed = new Set();
    this.viewport = h("div", { class: "wf-viewport" });
    this.spacer = h("div", { class: "wf-spacer" });
    this.rows = h("div", { class: "wf-rows" });
    this.spacer.append(this.rows);
    this.viewport.append(this.spacer);
    clear(box, h("div", { class: "wf-head" }, h("span", { class: "wf-name" }, "span"), h("span", { class: "wf-time" }, "0", h("span", {}, fmtMs(this.total / 1e6)))), this.viewport);
    this.frame = 0;
    this.onScroll = () => {
      if (!this.frame) this.frame = requestAnimationFrame(() => { this.frame = 0; this.draw(); });
    };
    this.viewport.addEventListener("scroll", this.onScroll);
    this.viewport.addEventListener("click", (e) => this.click(e));
    this.flatten();
  }

  // the visible rows: a depth-first walk that skips the children of collapsed spans
  flatten() {
    const out = [];
    const stack = [...this.roots].reverse().map((s) => [s, 0]);
    while (stack.length) {
      const [span, depth] = stack.pop();
      const kids = this.children.get(span.span_id) || [];
      out.push({ span, depth, kids: kids.length });
      if (kids.length && !this.collapsed.has(span.span_id)) for (let i = kids.length - 1; i >= 0; i--) stack.push([kids[i], depth + 1]);
    }
    this.visible = out;
    this.spacer.style.height = out.length * ROW + "px";
    this.viewport.style.height = Math.min(out.length * ROW + 4, Math.round(window.innerHeight * 0.7)) + "px";
    this.draw();
  }

  draw() {
    const top = this.viewport.scrollTop;
    const height = this.viewport.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / ROW) - 10);
    const last = Math.min(this.visible.length, Math.ceil((top + height) / ROW) + 10);
    this.rows.style.transform = `translateY(${first * ROW}px)`;
    const out = [];
    for (let i = first; i < last; i++) out.push(this.row(this.visible[i]));
    this.rows.replaceChildren(...out);
  }

  row({ span, depth, kids }) {
    const left = ((span.start_ns - this.t0) / this.total) * 100;
    const width = Math.max(0.15, (span.duration_ns / this.total) * 100);
    const toggle = kids ? h("span", { class: "wf-toggle", "data-toggle": span.span_id }, this.collapsed.has(span.span_id) ? "▸" : "▾") : h("span", { class: "wf-toggle" });
    const ml = span.attributes["ml.model.name"];
    const events = (span.event_times || []).map((t, i) => h("span", {
      class: "wf-event" + (span.event_names[i] === "exception" ? " exception" : ""),
      style: `left:${((t - this.t0) / this.total) * 100}%`,
      title: span.event_names[i],
    }));
    return h("div", {
      class: "wf-row" + (isError(span.status) ? " error" : "") + (span.span_id === this.selected ? " selected" : ""),
      "data-span": span.span_id,
    },
    h("span", { class: "wf-name", style: `padding-left:${depth * 14 + 4}px`, title: `${span.service}: ${span.name}` },
      toggle, h("span", { class: "wf-service" }, span.service), " ", span.name,
      ml ? h("span", { class: "wf-ml" }, ` ${ml} ${span.attributes["ml.model.version"] || ""}`) : null,
      kids && this.collapsed.has(span.span_id) ? h("span", { class: "muted" }, ` (${fmtNum(this.count(span.span_id))} hidden)`) : null),
    h("span", { class: "wf-track" },
      h("span", { class: "wf-bar", style: `left:${left}%;width:${width}%` }), events,
      left + width > 85
        ? h("span", { class: "wf-dur inside", style: `right:${Math.max(0, 100 - left - width)}%` }, fmtMs(span.duration_ns / 1e6))
        : h("span", { class: "wf-dur", style: `left:${left + width}%` }, fmtMs(span.duration_ns / 1e6))));
  }

  count(id) {
    let n = 0;
    const stack = [...(this.children.get(id) || [])];
    while (stack.length) {
      const s = stack.pop();
      n++;
      stack.push(...(this.children.get(s.span_id) || []));
    }
    return n;
  }

  click(e) {
    const toggle = e.target.closest("[data-toggle]");
    if (toggle) {
      const id = toggle.dataset.toggle;
      if (this.collapsed.has(id)) this.collapsed.delete(id);
      else this.collapsed.add(id);
      this.flatten();
      return;
    }
    const row = e.target.closest("[data-span]");
    if (!row) return;
    this.selected = row.dataset.span;
    this.draw();
    this.onSelect(this.byId.get(this.selected));
  }

  collapseAll() {
    for (const [id, kids] of this.children) if (kids.length) this.collapsed.add(id);
    for (const r of this.roots) this.collapsed.delete(r.span_id);
    this.viewport.scrollTop = 0;
    this.flatten();
  }

  expandAll() {
    this.collapsed.clear();
    this.flatten();
  }

  // expand the ancestors of a span and scroll it into view
  reveal(id) {
    let span = this.byId.get(id);
    if (!span) return;
    this.selected = id;
    for (let parent = this.parentOf(span); parent; parent = this.parentOf(span)) {
      this.collapsed.delete(parent);
      span = this.byId.get(parent);
    }
    this.flatten();
    const index = this.visible.findIndex((r) => r.span.span_id === id);
    if (index >= 0) this.viewport.scrollTop = Math.max(0, index * ROW - 3 * ROW);
    this.draw();
  }

  destroy() {
    this.viewport.removeEventListener("scroll", this.onScroll);
    if (this.frame) cancelAnimationFrame(this.frame);
  }
}

// -- one span -----------------------------------------------------------------------------

function showSpan(box, span, t0, resource) {
  const attrs = span.attributes || {};
  const parts = [
    h("h2", {}, span.name),
    h("dl", { class: "facts" },
      h("dt", {}, "service"), h("dd", {}, span.service),
      h("dt", {}, "start"), h("dd", {}, `+${fmtMs((span.start_ns - t0) / 1e6)} (${fmtTime(span.start_ns / 1e6, true)})`),
      h("dt", {}, "duration"), h("dd", {}, fmtMs(span.duration_ns / 1e6)),
      h("dt", {}, "status"), h("dd", {}, isError(span.status) ? badge("error", "bad") : span.status || "unset", span.status_message ? " " + span.status_message : ""),
      h("dt", {}, "span id"), h("dd", {}, h("code", {}, span.span_id))),
  ];
  const decodedKeys = new Set();
  parts.push(...decodeMl(attrs, decodedKeys));
  // what could not be decoded stays in the attributes, as sent
  const rest = Object.entries(attrs).filter(([k]) => !decodedKeys.has(k)).sort(([a], [b]) => a.localeCompare(b));
  parts.push(h("h3", {}, "Attributes"), kvTable(rest));
  if (span.event_names && span.event_names.length) {
    parts.push(h("h3", {}, "Events"), h("div", { id: "span-events" }, span.event_names.map((name, i) => {
      const ea = Object.entries(span.event_attributes[i] || {});
      return h("div", { class: "event" + (name === "exception" ? " exception" : "") },
        h("strong", {}, name), h("span", { class: "muted" }, ` +${fmtMs((span.event_times[i] - t0) / 1e6)}`),
        ea.map(([k, v]) => (k === "exception.stacktrace" ? h("pre", {}, v) : h("div", {}, h("code", {}, k), " ", v))));
    })));
  }
  parts.push(h("h3", {}, "Resource"), kvTable(Object.entries(resource || {}).sort(([a], [b]) => a.localeCompare(b))));
  clear(box, parts);
}

function kvTable(entries) {
  if (!entries.length) return h("p", { class: "muted" }, "none");
  return h("table", { class: "kv" }, h("tbody", {}, entries.map(([k, v]) => h("tr", {}, h("th", {}, k), h("td", {}, typedValue(v))))));
}

const LONG = 2000; // characters of a value shown before "show all"

function longText(text) {
  if (text.length <= LONG) return text;
  return h("details", { class: "long" }, h("summary", {}, text.slice(0, LONG) + ` … (${fmtNum(text.length)} characters: show all)`), h("pre", {}, text));
}

function typedValue(v) {
  if (typeof v === "string") return longText(v);
  const type = Array.isArray(v) ? "array" : typeof v === "number" ? (Number.isInteger(v) ? "int" : "double") : typeof v;
  return h("span", {}, longText(JSON.stringify(v)), h("span", { class: "type" }, " " + type));
}

function parseJson(text) {
  if (typeof text !== "string") return text;
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function decodeMl(attrs, decodedKeys) {
  const out = [];
  const object = (key) => {
    const v = parseJson(attrs[key]);
    if (v && typeof v === "object") {
      decodedKeys.add(key);
      return v;
    }
    return null;
  };
  const input = object("ml.input.sample");
  if (input) out.push(h("h3", {}, "Input sample"), sampleTable(input, "input-sample"));
  const stats = object("ml.input.stats");
  if (stats) {
    out.push(h("h3", {}, "Input statistics"), sortableTable([
      { key: "feature", label: "feature" },
      { key: "count", label: "count", num: true },
      { key: "nulls", label: "nulls", num: true },
      { key: "min", label: "min", num: true },
      { key: "mean", label: "mean", num: true },
      { key: "max", label: "max", num: true },
    ], Object.entries(stats).map(([feature, s]) => ({ feature, ...(s || {}) }))));
  }
  const output = object("ml.output.sample");
  if (output) out.push(h("h3", {}, "Output sample"), sampleTable(output, "output-sample"));
  const hot = object("ml.profile.hotspots");
  if (Array.isArray(hot) && hot.length) out.push(h("h3", {}, "Profile hotspots"), h("div", { id: "span-hotspots" }, hotspotTable(hot)));
  if (!out.length && attrs["ml.model.name"] && !("ml.input.sample" in attrs)) out.push(h("p", { class: "muted" }, "This call carries no input sample (sampling or redaction in the SDK)."));
  return out;
}

// a column-wise sample {feature: [row values]} as a feature-by-row table
function sampleTable(sample, id) {
  if (Array.isArray(sample)) sample = { value: sample };
  const features = Object.keys(sample);
  const rows = Math.max(0, ...features.map((f) => (Array.isArray(sample[f]) ? sample[f].length : 1)));
  const shown = Math.min(rows, 32);
  const clip = (text) => (text.length > 80 ? h("span", { title: text.slice(0, LONG) }, text.slice(0, 79) + "…") : text);
  const cell = (v) => (v === null ? h("span", { class: "muted" }, "null") : typeof v === "number" ? fmtNum(v, 4) : clip(typeof v === "object" ? JSON.stringify(v) : String(v)));
  return h("div", { class: "table-box" }, h("table", { class: "grid sample", id },
    h("thead", {}, h("tr", {}, h("th", {}, "feature"), Array.from({ length: shown }, (_, i) => h("th", { class: "num" }, "row " + i)))),
    h("tbody", {}, features.map((f) => h("tr", { "data-feature": f }, h("th", {}, f),
      Array.from({ length: shown }, (_, i) => h("td", { class: "num" }, cell(Array.isArray(sample[f]) ? sample[f][i] : sample[f]))))))));
}


