// The models page (every model and version at a glance) and a model's page.
import { PALETTE, chartBox, overlayChart, seriesColumns, sparkline, timeChart } from "./charts.js";
import {
  ago, api, badge, carry, clear, errorBox, fmtMs, fmtNum, fmtPct, fmtTime, h, hashFor, parseIsoMs,
  rangeParams, section, sortRows, sortableTable, timeRange,
} from "./lib.js";

const MAX_VERSIONS = 8;
const KIND_CLASS = { latency: "warn", latency_drop: "warn", error_rate: "bad", traffic_drop: "bad", drift: "info", performance: "warn" };

// -- models -------------------------------------------------------------------------------

export function renderModels(root, route, ctx) {
  const params = route.params;
  let rows = [];
  let shownRows = []; // as displayed: filtered and sorted
  const perf = new Map();
  const filter = h("input", { type: "search", id: "model-filter", placeholder: "filter models and versions", value: params.get("q") || "" });
  const status = h("span", { class: "muted" });
  const tableBox = h("div", { class: "table-box", id: "models-table" });
  clear(root,
    h("div", { class: "page-head" }, h("h1", {}, "Models"), filter, status),
    tableBox);
  filter.addEventListener("input", () => {
    ctx.replaceParams({ q: filter.value });
    draw();
  });

  function visible() {
    const q = filter.value.trim().toLowerCase();
    return q ? rows.filter((r) => (r.model + " " + r.version).toLowerCase().includes(q)) : rows;
  }

  function draw() {
    const sortKey = params.get("sort") || "calls_per_min";
    const desc = params.get("dir") !== "asc";
    const shown = visible();
    status.textContent = `${shown.length} of ${rows.length} model versions`;
    const link = (r) => hashFor("model", r.model, { ...carry(params), version: r.version });
    const columns = [
      { key: "model", label: "model", render: (r) => h("a", { href: link(r), class: "model-link" }, r.model) },
      { key: "version", label: "version" },
      { key: "calls_per_min", label: "calls/min", num: true },
      { key: "error_rate", label: "errors", num: true, render: (r) => h("span", { class: r.error_rate > 0.05 ? "bad-text" : "" }, fmtPct(r.error_rate)) },
      { key: "p50_ms", label: "p50", num: true, render: (r) => fmtMs(r.p50_ms) },
      { key: "p95_ms", label: "p95", num: true, render: (r) => fmtMs(r.p95_ms) },
      { key: "p99_ms", label: "p99", num: true, render: (r) => fmtMs(r.p99_ms) },
      { key: "spark", label: "p95 over time", sortable: false, render: (r) => sparkline(r.spark_p95_ms) },
      { key: "findings", label: "open findings", value: (r) => Object.values(r.open_findings).reduce((a, b) => a + b, 0), render: findingBadges },
      { key: "drift", label: "drift", value: (r) => (r.drift ? r.drift.drifted : -1), render: driftCell },
      { key: "performance", label: "performance", sortable: false, render: (r) => perfCell(perf.get(r.model + "\u0000" + r.version)) },
      { key: "last_ms", label: "last seen", num: true, render: (r) => h("span", { title: fmtTime(r.last_ms) }, ago(r.last_ms)) },
    ];
    shownRows = sortRows(columns, shown, sortKey, desc);
    clear(tableBox, shown.length || !rows.length ? sortableTable(columns, shown, {
      sortKey, desc,
      onSort: (key, d) => {
        ctx.replaceParams({ sort: key, dir: d ? "" : "asc" });
        draw();
      },
      rowAttrs: (r) => ({ "data-model": r.model, "data-version": r.version }),
    }) : h("p", { class: "muted" }, "No model matches the filter."));
    if (!rows.length) tableBox.append(h("p", { class: "empty" }, "No model called in this range. Decorate a predict function with @modeltrace.trace_model and send some calls."));
  }

  function findingBadges(r) {
    const kinds = Object.entries(r.open_findings);
    if (!kinds.length) return h("span", { class: "ok-text" }, "none");
    return kinds.map(([k, n]) => h("a", { href: hashFor("model", r.model, { ...carry(params), version: r.version }) + "#findings" },
      badge(`${k} ${n}`, KIND_CLASS[k] || "")));
  }

  function driftCell(r) {
    if (!r.drift) return h("span", { class: "muted", title: "no drift pass stored in this range" }, "–");
    const cls = r.drift.drifted ? "bad-text" : "ok-text";
    return h("span", { class: cls, title: "latest pass " + fmtTime(r.drift.at_ms) }, `${r.drift.drifted} of ${r.drift.features} drifted`);
  }

  async function loadPerformance(range) {
    // one answer per model (every version in it), a few at a time, only for models shown
    const wanted = [...new Set(shownRows.slice(0, 100).map((r) => r.model))];
    const windowS = Math.max(60, Math.round((range.end - range.start) / 1000));
    let next = 0;
    const worker = async () => {
      while (next < wanted.length && ctx.alive()) {
        const model = wanted[next++];
        try {
          const p = await api("/api/performance", { model, window: windowS, bucket: windowS, at: params.get("end") || "" });
          for (const [version, text] of summarisePerformance(p)) perf.set(model + "\u0000" + version, text);
        } catch (err) {
          perf.set(model + "\u0000", { text: "–", title: err.message });
        }
      }
    };
    await Promise.all([worker(), worker(), worker()]);
    if (ctx.alive()) draw();
  }

  async function load() {
    const range = timeRange(params, "1h");
    const data = await api("/api/overview", { ...rangeParams(params, "1h"), points: 30 });
    rows = data.models;
    draw();
    loadPerformance(range);
  }
  return { load };
}

function summarisePerformance(p) {
  const out = new Map();
  for (const m of p.measured || []) {
    const text = m.accuracy !== undefined ? `accuracy ${fmtNum(m.accuracy)}` : `MAE ${fmtNum(m.mae)}`;
    out.set(m.version, { text, title: `measured on ${m.n} labelled calls`, kind: "measured" });
  }
  for (const e of p.estimated || []) {
    if (out.has(e.version)) continue;
    out.set(e.version, {
      text: `≈ ${fmtNum(e.estimated_accuracy)}`,
      title: `estimated from confidence on ${e.n} calls, 95% interval ${fmtNum(e.ci95[0])}–${fmtNum(e.ci95[1])}`,
      kind: "estimated",
    });
  }
  return out;
}

function perfCell(p) {
  if (!p) return h("span", { class: "muted" }, "–");
  return h("span", { title: p.title, class: p.kind === "estimated" ? "muted" : "" }, p.text);
}

// -- one model ----------------------------------------------------------------------------

export function renderModel(root, route, ctx) {
  const model = route.id;
  const params = route.params;
  const opSelect = h("select", { id: "operation", title: "operation" });
  const boxes = {
    latency: chartBox(), throughput: chartBox(), findings: h("div", { id: "findings" }),
    drift: h("div", { id: "drift" }), driftDetail: h("div", { id: "drift-detail" }),
    performance: h("div", { id: "performance" }), hotspots: h("div", { id: "hotspots" }), diff: h("div", { id: "hotspot-diff" }),
    versions: h("span", { class: "muted", id: "versions" }), omitted: h("p", { class: "legend-note" }),
  };
  clear(root,
    h("div", { class: "page-head" },
      h("h1", {}, h("a", { href: hashFor("models", "", carry(params)) }, "Models"), " / ", model),
      boxes.versions, opSelect,
      h("a", { class: "button", href: hashFor("traces", "", { ...carry(params), model }) }, "Traces"),
      h("a", { class: "button", href: hashFor("sql", "", { q: modelSql(model) }) }, "SQL")),
    section("Latency per version", h("p", { class: "legend-note" }, "solid p95 · thin p50 · dashed p99; red bands: anomaly episodes; dashed lines: deploys"), boxes.omitted, boxes.latency),
    section("Throughput and errors", boxes.throughput),
    h("section", { class: "card", id: "findings-card" }, h("h2", {}, "Findings"), boxes.findings),
    section("Drift", h("p", { class: "legend-note" }, "latest drift pass per feature in the range; click a feature for its distributions"), boxes.drift, boxes.driftDetail),
    section("Performance", boxes.performance),
    section("Hotspots: top functions by self time", boxes.hotspots),
    section("What got slower between versions", boxes.diff));
  opSelect.addEventListener("change", () => ctx.setParams({ op: opSelect.value }));

  async function load() {
    const rp = rangeParams(params, "6h");
    const range = timeRange(params, "6h");
    const operation = params.get("op") || "";
    // every call at once: the page is drawn as the answers come
    const seriesP = api("/api/series", { model, ...rp, operation });
    const findingsP = api("/api/findings", { model, limit: 200 });
    // a section that fails says so in its place; the others are still drawn
    const rest = [[loadDrift(rp, range), boxes.drift], [loadPerformance(range), boxes.performance], [loadHotspots(rp, seriesP), boxes.hotspots]]
      .map(([p, box]) => p.catch((err) => ctx.alive() && clear(box, errorBox(err))));
    const [series, findings] = await Promise.all([seriesP, findingsP]);
    if (!ctx.alive()) return;
    fillOperations(series.operations, operation);
    const deploys = series.deploys.slice(-4).map((d) => `${d.version} since ${fmtTime(d.first_seen_ms)}`);
    boxes.versions.textContent = (series.deploys.length > 4 ? `${series.deploys.length} versions; newest: ` : "") + deploys.join(" · ");
    drawSeries(series, findings.findings, range);
    drawFindings(findings.findings, range);
    await Promise.all(rest);
  }

  function fillOperations(ops, current) {
    clear(opSelect, h("option", { value: "" }, "all operations"),
      ops.map((o) => h("option", { value: o.operation, selected: o.operation === current }, `${o.operation} (${fmtNum(o.calls)})`)));
  }

  function drawSeries(series, findings, range) {
    const xRange = [range.start / 1000, range.end / 1000];
    // the busiest versions (a model with hundreds would bury the chart and its legend)
    const callsOf = new Map();
    for (const p of series.points) callsOf.set(p.version, (callsOf.get(p.version) || 0) + p.calls);
    const ranked = [...callsOf.keys()].sort((a, b) => callsOf.get(b) - callsOf.get(a));
    const versions = ranked.slice(0, MAX_VERSIONS);
    boxes.omitted.textContent = ranked.length > MAX_VERSIONS ? `the ${MAX_VERSIONS} busiest of ${ranked.length} versions drawn` : "";
    const { xs, column: valuesOf } = seriesColumns(series.points);
    const column = (version, key, scale = 1) => valuesOf(version, (p) => p[key] * scale);
    const x = xs.map((t) => t / 1000);
    const bands = findings
      .filter((f) => ["latency", "latency_drop", "error_rate", "traffic_drop"].includes(f.kind))
      .map((f) => ({ from: parseIsoMs(f.window_start) / 1000, to: (parseIsoMs(f.resolved_at) || range.end) / 1000 }));
    const marks = series.deploys
      .filter((d) => versions.includes(d.version) && d.first_seen_ms >= range.start && d.first_seen_ms <= range.end)
      .map((d) => ({ t: d.first_seen_ms / 1000, label: "deploy " + d.version }));
    const latency = [];
    const traffic = [];
    versions.forEach((v, i) => {
      const color = PALETTE[i % PALETTE.length];
      latency.push({ label: `${v} p95`, values: column(v, "p95_ms"), color, width: 2 });
      latency.push({ label: `${v} p50`, values: column(v, "p50_ms"), color, width: 1 });
      latency.push({ label: `${v} p99`, values: column(v, "p99_ms"), color, width: 1, dash: [5, 4] });
      traffic.push({ label: `${v} calls/min`, values: column(v, "calls", 60 / series.step_seconds), color, width: 2 });
      const calls = column(v, "calls");
      const rate = column(v, "errors").map((e, j) => (calls[j] ? e / calls[j] : null));
      traffic.push({ label: `${v} errors`, values: rate, color, width: 1, dash: [2, 3], scale: "y2" });
    });
    ctx.chart(boxes.latency, () => xs.length
      ? timeChart(boxes.latency, { x, xRange, series: latency, yLabel: "latency", yFormat: fmtMs, bands, marks, height: 280 })
      : null, "No calls in this range.");
    ctx.chart(boxes.throughput, () => xs.length
      ? timeChart(boxes.throughput, { x, xRange, series: traffic, yLabel: "calls/min", y2Label: "error rate", y2Format: fmtPct, bands, marks, height: 200 })
      : null, "No calls in this range.");
  }

  function drawFindings(findings, range) {
    const shown = findings.filter((f) => parseIsoMs(f.opened_at) <= range.end && (!f.resolved_at || parseIsoMs(f.resolved_at) >= range.start));
    if (!shown.length) return clear(boxes.findings, h("p", { class: "muted" }, "No finding in this range."));
    clear(boxes.findings, findingsTable(shown, params));
  }

  async function loadDrift(rp, range) {
    const data = await api("/api/drift/features", { model, ...rp });
    if (!ctx.alive()) return;
    if (!data.features.length) {
      clear(boxes.drift, h("p", { class: "muted" }, "No drift pass stored in this range: the analysis compares each version's inputs and outputs with its reference every minute once calls carry samples."));
      return;
    }
    const selected = params.get("feature");
    const columns = [
      { key: "feature", label: "feature", render: (r) => h("a", { href: "#", class: "feature-link", onclick: (e) => { e.preventDefault(); ctx.setParams({ feature: r.feature, fversion: r.version, fside: r.side }); } }, r.feature) },
      { key: "version", label: "version" },
      { key: "side", label: "side" },
      { key: "type", label: "type" },
      { key: "test", label: "test" },
      { key: "score", label: "score", num: true },
      { key: "threshold", label: "threshold", num: true },
      { key: "drifted", label: "drifted", render: (r) => (r.drifted ? badge("drifted", "bad") : h("span", { class: "ok-text" }, "no")) },
      { key: "p_value", label: "p-value", num: true },
      { key: "psi", label: "PSI", num: true },
      { key: "null_rate", label: "nulls", num: true, render: (r) => fmtPct(r.null_rate) },
      { key: "out_of_range_rate", label: "out of range", num: true, render: (r) => fmtPct(r.out_of_range_rate) },
      { key: "n_current", label: "values", num: true },
    ];
    clear(boxes.drift, sortableTable(columns, data.features, {
      sortKey: null,
      rowAttrs: (r) => ({ class: r.feature === selected && r.version === params.get("fversion") ? "selected" : "", "data-feature": r.feature }),
    }));
    if (selected) await loadDistribution(selected, params.get("fversion") || "", params.get("fside") || "input", rp, range);
    else clear(boxes.driftDetail);
  }

  async function loadDistribution(feature, version, side, rp, range) {
    const at = params.get("end") ? range.end : "";
    const [dist, scores] = await Promise.all([
      api("/api/drift/distribution", { model, version, feature, side, at }),
      api("/api/drift/scores", { model, feature, side, ...rp }),
    ]);
    if (!ctx.alive()) return;
    const labels = dist.type === "numeric"
      ? dist.edges.slice(0, -1).map((e, i) => `${fmtNum(e)}–${fmtNum(dist.edges[i + 1])}`)
      : dist.categories;
    const overlay = chartBox();
    const over = chartBox();
    const ref = dist.reference;
    const refText = ref.kind === "upload" ? `uploaded reference ${ref.reference_id}` : `calls of ${ref.version || "every version"} ${fmtTime(ref.start_ms)} – ${fmtTime(ref.end_ms)}`;
    clear(boxes.driftDetail,
      h("h3", { id: "drift-feature" }, `${feature} (${side}, version ${version})`),
      h("p", { class: "muted" }, `reference: ${refText}; current: ${fmtTime(dist.window.start_ms)} – ${fmtTime(dist.window.end_ms)}`),
      h("div", { class: "two" }, h("div", {}, h("h4", {}, dist.type === "numeric" ? "Histogram, reference against current" : "Categories, reference against current"), overlay),
        h("div", {}, h("h4", {}, "Drift score at every analysis pass"), over)));
    ctx.chart(overlay, () => overlayChart(overlay, { labels, reference: dist.reference_counts, current: dist.current_counts, numeric: dist.type === "numeric" }));
    const pts = scores.scores.filter((s) => s.version === version);
    // a p-value test drifts below its threshold: drawn on a log scale, where 1e-40 shows
    const pvalue = pts.length && ["ks", "chisquare"].includes(pts[pts.length - 1].test);
    // (the chart's log axis reaches 1e-15: smaller p-values are drawn there; the table has them exactly)
    const floor = (v) => (pvalue && v !== null ? Math.max(v, 1e-15) : v);
    ctx.chart(over, () => pts.length ? timeChart(over, {
      x: pts.map((s) => s.t / 1000),
      xRange: [range.start / 1000, range.end / 1000],
      series: [
        { label: `score (${pts[pts.length - 1].test}${pvalue ? " p-value, drifts below" : ""})`, values: pts.map((s) => floor(s.score)), color: "#2563eb", width: 2 },
        { label: "threshold", values: pts.map((s) => floor(s.threshold)), color: "#dc2626", dash: [5, 4] },
      ],
      height: 240,
      logY: pvalue,
    }) : null, "No stored score for this feature and version in the range.");
  }

  async function loadPerformance(range) {
    const windowS = Math.max(60, Math.round((range.end - range.start) / 1000));
    const bucket = Math.max(60, Math.round(windowS / 48 / 60) * 60);
    const p = await api("/api/performance", { model, window: windowS, bucket, at: params.get("end") ? range.end : "" });
    if (!ctx.alive()) return;
    const box = chartBox();
    const note = p.note ? h("p", { class: "muted" }, "Measured: " + p.note + ".") : null;
    clear(boxes.performance, note, box);
    const rows = p.measured && p.measured.length ? p.measured : null;
    const versions = [...new Set([...(p.measured || []), ...(p.estimated || [])].map((r) => r.version))];
    const xs = [...new Set([...(p.measured || []), ...(p.estimated || [])].map((r) => r.bucket_ms))].sort((a, b) => a - b);
    if (!xs.length) return clear(boxes.performance, h("p", { class: "muted" }, p.note || "No calls with an output sample in this range."));
    const at = (list, version, key) => xs.map((t) => {
      const found = list.find((r) => r.version === version && r.bucket_ms === t);
      return found ? found[key] : null;
    });
    const series = [];
    const fills = [];
    versions.forEach((v, i) => {
      const color = PALETTE[i % PALETTE.length];
      if (rows) {
        const key = rows[0].accuracy !== undefined ? "accuracy" : "mae";
        series.push({ label: `${v} ${key}`, values: at(rows, v, key), color, width: 2 });
        if (key === "accuracy") series.push({ label: `${v} F1`, values: at(rows, v, "f1"), color, width: 1, dash: [4, 3] });
        else series.push({ label: `${v} RMSE`, values: at(rows, v, "rmse"), color, width: 1, dash: [4, 3] });
      }
      if (p.estimated && p.estimated.length) {
        const est = p.estimated;
        const base = series.length + 1;
        series.push({ label: `${v} estimated`, values: at(est, v, "estimated_accuracy"), color, width: 1.5, dash: [1, 3] });
        series.push({ label: `${v} 95% high`, values: xs.map((t) => { const f = est.find((r) => r.version === v && r.bucket_ms === t); return f ? f.ci95[1] : null; }), color: "transparent", width: 0 });
        series.push({ label: `${v} 95% low`, values: xs.map((t) => { const f = est.find((r) => r.version === v && r.bucket_ms === t); return f ? f.ci95[0] : null; }), color: "transparent", width: 0 });
        fills.push({ series: [base + 1, base + 2], fill: color + "22" });
      }
    });
    ctx.chart(box, () => timeChart(box, { x: xs.map((t) => t / 1000), xRange: [range.start / 1000, range.end / 1000], series, fills, height: 220 }));
  }

  async function loadHotspots(rp, seriesP) {
    // without from and to, the API compares the two newest versions
    const [top, diff, series] = await Promise.all([
      api("/api/hotspots", { model, ...rp, limit: 10 }),
      api("/api/hotspots/diff", { model, ...rp, from: params.get("from") || "", to: params.get("to") || "", limit: 15 })
        .catch((err) => ({ error: err })),
      seriesP,
    ]);
    if (!ctx.alive()) return;
    const versions = series.deploys.map((d) => d.version);
    const byVersion = new Map();
    for (const r of top.hotspots) (byVersion.get(r.version) || byVersion.set(r.version, []).get(r.version)).push(r);
    // the newest versions first, at most four
    const newest = [...byVersion.keys()].sort((a, b) => versions.indexOf(b) - versions.indexOf(a)).slice(0, 4);
    if (!byVersion.size) clear(boxes.hotspots, h("p", { class: "muted" }, "No profiled call in this range (the SDK profiles a share of calls: profile_rate)."));
    else clear(boxes.hotspots, newest.map((v) => h("div", { class: "table-box" }, h("h4", {}, "version " + v), hotspotTable(byVersion.get(v)))),
      byVersion.size > 4 ? h("p", { class: "muted" }, `the 4 newest of ${byVersion.size} profiled versions`) : null);
    if (!diff || !diff.functions) return clear(boxes.diff, h("p", { class: "muted" }, (diff && diff.note) || "One version only: nothing to compare."));
    if (diff.error) return clear(boxes.diff, errorBox(diff.error));
    const pick = (name, value) => h("select", { id: "diff-" + name, onchange: (e) => ctx.setParams({ [name]: e.target.value }) },
      versions.map((v) => h("option", { value: v, selected: v === value }, v)));
    const maxDelta = Math.max(1e-9, ...diff.functions.map((f) => Math.abs(f.delta_ms)));
    clear(boxes.diff,
      h("p", {}, "from ", pick("from", diff.from), " to ", pick("to", diff.to), h("span", { class: "muted" }, ` · self time per profiled call (${fmtNum(diff.functions[0]?.profiled_a ?? 0)} and ${fmtNum(diff.functions[0]?.profiled_b ?? 0)} profiled calls)`)),
      diff.functions.length ? sortableTable([
        { key: "function", label: "function", render: (r) => h("code", {}, r.function) },
        { key: "file", label: "where", render: (r) => h("span", { class: "muted" }, r.line ? `${shortFile(r.file)}:${r.line}` : shortFile(r.file)) },
        { key: "self_ms_a", label: diff.from, num: true, render: (r) => fmtMs(r.self_ms_a) },
        { key: "self_ms_b", label: diff.to, num: true, render: (r) => fmtMs(r.self_ms_b) },
        { key: "delta_ms", label: "change", num: true, render: (r) => h("span", { class: r.delta_ms > 0 ? "bad-text" : "ok-text" }, (r.delta_ms > 0 ? "+" : "") + fmtMs(r.delta_ms)) },
        { key: "bar", label: "", sortable: false, render: (r) => h("span", { class: "delta-bar " + (r.delta_ms > 0 ? "up" : "down"), style: `width:${Math.round((Math.abs(r.delta_ms) / maxDelta) * 120)}px` }) },
      ], diff.functions, { rowAttrs: (r) => ({ "data-function": r.function }) }) : h("p", { class: "muted" }, "No profiled call of these versions in the range."));
  }
  return { load };
}

export function hotspotTable(list) {
  return sortableTable([
    { key: "function", label: "function", render: (r) => h("code", {}, r.function) },
    { key: "file", label: "where", render: (r) => h("span", { class: "muted" }, r.line ? `${shortFile(r.file)}:${r.line}` : shortFile(r.file)) },
    { key: "self_ms_total", label: "self, total", num: true, render: (r) => fmtMs(r.self_ms_total ?? r.self_ms) },
    { key: "self_ms_avg", label: "self / call", num: true, render: (r) => fmtMs(r.self_ms_avg ?? r.self_ms) },
    { key: "cum_ms_avg", label: "cumulative", num: true, render: (r) => fmtMs(r.cum_ms_avg ?? r.cum_ms) },
    { key: "calls", label: "calls", num: true },
  ], list, { sortKey: list.length && list[0].self_ms_total !== undefined ? "self_ms_total" : null });
}

export function shortFile(file) {
  if (!file || file === "~") return "(built-in)";
  const parts = String(file).split("/");
  return parts.slice(-2).join("/");
}

export function findingsTable(findings, params) {
  return sortableTable([
    { key: "kind", label: "kind", render: (r) => badge(r.kind, KIND_CLASS[r.kind] || "") },
    { key: "version", label: "version" },
    { key: "subject", label: "subject", render: (r) => h("a", { href: hashFor("finding", r.id, carry(params)), class: "finding-link" }, r.subject || r.operation || r.id) },
    { key: "severity", label: "severity", render: (r) => badge(r.severity, r.severity === "critical" ? "bad" : "warn") },
    { key: "status", label: "status", render: (r) => (r.status === "open" ? badge("open", "bad") : h("span", { class: "muted" }, "resolved")) },
    { key: "opened_at", label: "opened", value: (r) => parseIsoMs(r.opened_at), render: (r) => fmtTime(parseIsoMs(r.opened_at)) },
  ], findings, { sortKey: "opened_at", desc: true, rowAttrs: (r) => ({ "data-finding": r.id, "data-kind": r.kind }) });
}

function modelSql(model) {
  const name = model.replace(/\\/g, "\\\\").replace(/'/g, "\\'");
  return `SELECT ModelVersion, count() AS calls, quantile(0.95)(Duration) / 1e6 AS p95_ms\nFROM ml_predictions\nWHERE ModelName = '${name}' AND Timestamp > now() - INTERVAL 1 DAY\nGROUP BY ModelVersion\nORDER BY ModelVersion`;
}
