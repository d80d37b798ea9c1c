// A finding: what was seen, its ranked causes with their evidence, the anomalous window
// against its baseline, and example slow or failed calls one click from their traces.
import { PALETTE, chartBox, seriesColumns, timeChart } from "./charts.js";
import { api, badge, carry, clear, fmtMs, fmtNum, fmtPct, fmtTime, h, hashFor, parseIsoMs, section, sortableTable } from "./lib.js";

export function renderFinding(root, route, ctx) {
  const id = route.id;
  const params = route.params;

  async function load() {
    const finding = await api("/api/findings/" + encodeURIComponent(id));
    if (!ctx.alive()) return;
    const anomaly = finding.kind === "latency" || finding.kind === "error_rate";
    // a performance drop comes with its causes too (where the wrong predictions are)
    const explained = anomaly || finding.kind === "performance";
    const start = parseIsoMs(finding.window_start);
    const end = parseIsoMs(finding.window_end);
    const span = Math.max(end - start, 5 * 60000);
    const causes = h("div", { id: "causes" }, explained ? h("p", { class: "muted" }, "ranking causes …") : null);
    const chart = chartBox();
    const examples = h("div", { id: "examples" });
    clear(root,
      h("div", { class: "page-head" },
        h("h1", {}, h("a", { href: hashFor("model", finding.model, carry(params)) }, finding.model), " / finding ", h("code", {}, finding.id))),
      section("Summary", summary(finding, params)),
      explained ? h("section", { class: "card" }, h("h2", {}, "Ranked causes"), causes) : null,
      section(anomaly ? "The window against its baseline" : "Latency around the window",
        h("p", { class: "legend-note" }, anomaly ? "red band: the anomalous window; the hours before it are the baseline" : "red band: the window the finding was computed on"), chart),
      anomaly ? section(finding.kind === "error_rate" ? "Failed calls in the window" : "Slowest calls in the window", examples) : null);
    const from = start - Math.max(3 * span, 3600000);
    const to = Math.min(Date.now(), end + span);
    const seriesP = api("/api/series", { model: finding.model, start: from, end: to, operation: finding.operation || "" });
    const callsP = anomaly
      ? api("/api/calls", {
        model: finding.model, version: finding.version, operation: finding.operation, start, end,
        order: finding.kind === "error_rate" ? "newest" : "slowest", status: finding.kind === "error_rate" ? "error" : "", limit: 10,
      })
      : null;
    // the causes the analysis stored when it opened (or last grew) the finding; recomputed on
    // request, or here when none were stored
    const ev = finding.evidence || {};
    const stored = explained && Array.isArray(ev.root_causes)
      ? {
        causes: ev.root_causes, kind: finding.kind, target_calls: ev.target_calls,
        baseline: ev.rca_baseline || {}, ranking: ev.rca_ranking || "by score", stored: true,
      }
      : null;
    const rcaP = anomaly && !stored ? api("/api/rca/" + encodeURIComponent(id)) : null;
    const series = await seriesP;
    if (!ctx.alive()) return;
    drawWindow(chart, series, finding, start, end);
    if (callsP) drawExamples(examples, await callsP, finding);
    if (stored) drawCauses(causes, stored);
    else if (rcaP) await recompute(rcaP);
    else if (explained) clear(causes, h("p", { class: "muted" }, "No causes were stored with this finding."));
  }

  async function recompute(pending) {
    const box = document.getElementById("causes");
    try {
      const rca = await pending;
      if (ctx.alive()) drawCauses(box, rca);
    } catch (err) {
      if (ctx.alive()) clear(box, h("p", { class: "error" }, "root causes: " + err.message));
    }
  }

  function drawWindow(box, series, finding, start, end) {
    const versions = [...new Set(series.points.map((p) => p.version))];
    const { xs, column } = seriesColumns(series.points);
    const key = finding.kind === "error_rate" ? null : "p95_ms";
    const lines = versions.map((v, i) => ({
      label: `${v} ${key ? "p95" : "error rate"}`,
      values: column(v, (p) => (key ? p[key] : p.calls ? p.errors / p.calls : 0)),
      color: PALETTE[i % PALETTE.length],
      width: 2,
    }));
    ctx.chart(box, () => xs.length ? timeChart(box, {
      x: xs.map((t) => t / 1000), series: lines, yFormat: key ? fmtMs : fmtPct, height: 260,
      bands: [{ from: start / 1000, to: end / 1000 }],
      marks: series.deploys.filter((d) => d.first_seen_ms >= xs[0] && d.first_seen_ms <= xs[xs.length - 1]).map((d) => ({ t: d.first_seen_ms / 1000, label: "deploy " + d.version })),
    }) : null, "No calls around this window.");
  }

  function drawCauses(box, rca) {
    if (!rca.causes || !rca.causes.length) {
      clear(box, h("p", { class: "muted" }, rca.note || "No cause stands out: the slow calls look like the baseline's on every dimension."));
      return;
    }
    const what = { error_rate: "failed", performance: "wrongly predicted" }[rca.kind] || "slow";
    const again = rca.kind === "performance" ? null : h("a", { href: "#", id: "recompute", onclick: (e) => {
      e.preventDefault();
      clear(box, h("p", { class: "muted" }, "ranking causes …"));
      recompute(api("/api/rca/" + encodeURIComponent(id)));
    } }, "recompute now");
    const counts = rca.target_calls !== undefined && rca.baseline.calls !== undefined
      ? `${fmtNum(rca.target_calls)} ${what} calls against ${fmtNum(rca.baseline.calls)} baseline calls` +
        (rca.baseline.slow_threshold_ms ? ` (slow: over ${fmtMs(rca.baseline.slow_threshold_ms)}, the baseline's p95)` : "") + "; "
      : "";
    clear(box,
      h("p", { class: "muted" }, counts + `ranked ${rca.ranking}`,
        rca.stored ? [" · as the analysis found them when the finding opened or last grew", again ? [" · ", again] : null] : " · just computed"),
      h("ol", { class: "causes" }, rca.causes.map((c, i) =>
        h("li", { class: i === 0 ? "top-cause" : "", "data-dimension": c.dimension, "data-value": c.value },
          h("div", { class: "cause-head" }, h("strong", {}, `${c.dimension} = ${c.value}`), " ",
            badge("score " + fmtNum(c.rank_score ?? c.score), i === 0 ? "bad" : ""),
            c.change ? badge("changed", "warn") : null),
          h("div", { class: "evidence" }, c.evidence)))));
  }

  function drawExamples(box, found, finding) {
    if (!found.calls.length) return clear(box, h("p", { class: "muted" }, "No call stored in the window."));
    clear(box, sortableTable([
      { key: "start_ms", label: "started", render: (r) => fmtTime(r.start_ms, true) },
      { key: "duration_ms", label: "duration", num: true, render: (r) => fmtMs(r.duration_ms) },
      { key: "version", label: "version" },
      { key: "host", label: "host" },
      { key: "status", label: "status", render: (r) => (r.status === "Error" ? badge(r.error_type || "error", "bad") : "ok") },
      { key: "trace_id", label: "trace", render: (r) => h("a", { href: hashFor("trace", r.trace_id, { span: r.span_id }), class: "trace-link" }, r.trace_id.slice(0, 12) + "…") },
    ], found.calls, { rowAttrs: (r) => ({ "data-trace": r.trace_id }) }),
    h("p", {}, h("a", { href: hashFor("traces", "", { model: finding.model, version: finding.version, operation: finding.operation, start: parseIsoMs(finding.window_start), end: parseIsoMs(finding.window_end), order: "slowest" }) }, "all calls of the window →")));
  }
  return { load };
}

function summary(f, params) {
  const ev = f.evidence || {};
  const shownElsewhere = new Set(["summary", "root_causes", "rca_baseline", "rca_ranking", "concept"]);
  const rest = Object.fromEntries(Object.entries(ev).filter(([k]) => !shownElsewhere.has(k)));
  const drift = (f.kind === "drift" || f.kind === "data_quality") && /^(input|output)\./.test(f.subject || "");
  const [side, ...name] = (f.subject || "").split(".");
  const feature = name.join(".");
  return h("dl", { class: "facts" },
    h("dt", {}, "kind"), h("dd", {}, badge(f.kind)),
    h("dt", {}, "model"), h("dd", {}, `${f.model} ${f.version}` + (f.operation ? ` · ${f.operation}` : "")),
    h("dt", {}, "subject"), h("dd", {}, f.subject || "–"),
    h("dt", {}, "severity"), h("dd", {}, badge(f.severity, f.severity === "critical" ? "bad" : "warn")),
    h("dt", {}, "status"), h("dd", {}, f.status === "open" ? badge("open", "bad") : `resolved ${fmtTime(parseIsoMs(f.resolved_at))}`),
    h("dt", {}, "window"), h("dd", {}, `${fmtTime(parseIsoMs(f.window_start))} – ${fmtTime(parseIsoMs(f.window_end))}`),
    h("dt", {}, "opened"), h("dd", {}, fmtTime(parseIsoMs(f.opened_at))),
    h("dt", {}, "score"), h("dd", {}, `${fmtNum(f.score)} (threshold ${fmtNum(f.threshold)})`),
    ev.concept && ev.concept.summary ? [h("dt", {}, "why"), h("dd", { id: "finding-why" }, ev.concept.summary)] : null,
    h("dt", {}, "evidence"), h("dd", { class: "evidence", id: "finding-summary" }, ev.summary || "–",
      drift ? h("div", {}, h("a", { href: hashFor("model", f.model, { ...carry(params), feature, fversion: f.version, fside: side }), class: "feature-link" }, "see the distributions of " + feature + " →")) : null,
      Object.keys(rest).length ? h("details", {}, h("summary", {}, "details"), h("pre", {}, JSON.stringify(rest, null, 2))) : null));
}
