// Charts on uPlot (ui/vendor): time series with shaded episodes and deploy marks, overlaid
// distributions, a log-scale histogram whose selection filters, and SVG sparklines.
import { fmtMs, fmtNum, h } from "./lib.js";

const uPlot = window.uPlot;
export const PALETTE = ["#2563eb", "#dc2626", "#059669", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563"];
const utc = (ts) => uPlot.tzDate(new Date(ts * 1e3), "Etc/UTC");

// Keeps a chart as wide as its box.
function fit(el, chart, height) {
  const observer = new ResizeObserver(() => {
    const width = Math.max(200, el.clientWidth);
    if (Math.abs(width - chart.width) > 2) chart.setSize({ width, height });
  });
  observer.observe(el);
  const destroy = chart.destroy.bind(chart);
  chart.destroy = () => {
    observer.disconnect();
    destroy();
  };
  return chart;
}

// Per-version points ({version, t, ...}) on one time axis: xs (epoch ms, sorted) and
// column(version, value), the value of each point of that version at its step (null elsewhere).
export function seriesColumns(points) {
  const xs = [...new Set(points.map((p) => p.t))].sort((a, b) => a - b);
  const index = new Map(xs.map((t, i) => [t, i]));
  const column = (version, value) => {
    const out = new Array(xs.length).fill(null);
    for (const p of points) if (p.version === version) out[index.get(p.t)] = value(p);
    return out;
  };
  return { xs, column };
}

// Bands ({from, to} in epoch s, shaded) and marks ({t, label}: dashed lines) under the series.
function decorations(bands, marks) {
  return {
    hooks: {
      drawClear: [
        (u) => {
          const { ctx, bbox } = u;
          ctx.save();
          for (const b of bands) {
            const x0 = Math.max(bbox.left, u.valToPos(b.from, "x", true));
            const x1 = Math.min(bbox.left + bbox.width, u.valToPos(b.to, "x", true));
            if (x1 <= x0) continue;
            ctx.fillStyle = b.color || "rgba(220, 38, 38, 0.12)";
            ctx.fillRect(x0, bbox.top, Math.max(2, x1 - x0), bbox.height);
          }
          ctx.restore();
        },
      ],
      draw: [
        (u) => {
          const { ctx, bbox } = u;
          ctx.save();
          ctx.font = `${11 * devicePixelRatio}px system-ui, sans-serif`;
          for (const m of marks) {
            const x = u.valToPos(m.t, "x", true);
            if (x < bbox.left || x > bbox.left + bbox.width) continue;
            ctx.strokeStyle = m.color || "#111827";
            ctx.setLineDash([4 * devicePixelRatio, 3 * devicePixelRatio]);
            ctx.beginPath();
            ctx.moveTo(x, bbox.top);
            ctx.lineTo(x, bbox.top + bbox.height);
            ctx.stroke();
            ctx.fillStyle = m.color || "#111827";
            ctx.fillText(m.label, x + 4 * devicePixelRatio, bbox.top + 12 * devicePixelRatio);
          }
          ctx.restore();
        },
      ],
    },
  };
}

// A time chart. x: epoch seconds; series: [{label, values, color, dash, width, scale, band}].
// Time-axis labels in 24-hour UTC, with the date where the day changes or the range is long.
function timeLabels(u, splits) {
  const span = (u.scales.x.max || 0) - (u.scales.x.min || 0);
  let lastDay = "";
  return splits.map((s) => {
    if (s === null) return "";
    const iso = new Date(s * 1000).toISOString();
    const day = iso.slice(5, 10);
    const clock = span < 120 ? iso.slice(11, 19) : iso.slice(11, 16);
    const label = span > 3 * 86400 ? day + (iso.slice(11, 16) === "00:00" ? "" : " " + clock) : day !== lastDay && lastDay ? day + " " + clock : clock;
    lastDay = day;
    return label;
  });
}

// A time chart. x: epoch seconds; xRange: [from, to] in epoch s (the range the user chose: a
// chart spans it whatever the data covers); series: [{label, values, color, dash, width, scale}].
export function timeChart(el, { x, series, xRange = null, yLabel = "", y2Label = "", bands = [], marks = [], height = 240, yFormat = fmtNum, y2Format = fmtNum, fills = [], logY = false }) {
  const opts = {
    width: Math.max(200, el.clientWidth),
    height,
    tzDate: utc,
    scales: {
      // the chosen range; without one, the data's (and around a single point, ten minutes)
      x: xRange || x.length < 2 ? { time: true, auto: false, range: () => xRange || [x[0] - 300, x[0] + 300] } : { time: true },
      y: logY ? { distr: 3 } : { range: (u, lo, hi) => [Math.min(0, lo), hi > 0 ? hi * 1.08 : 1] },
    },
    series: [
      { label: "time (UTC)", value: (u, v) => (v === null ? "–" : new Date(v * 1000).toISOString().slice(0, 19).replace("T", " ")) },
      ...series.map((s) => ({
        label: s.label,
        stroke: s.color,
        width: s.width || 1.5,
        dash: s.dash,
        scale: s.scale || "y",
        fill: s.fill,
        spanGaps: false,
        points: { show: false },
        value: (u, v) => (v === null || v === undefined ? "–" : s.scale === "y2" ? y2Format(v) : yFormat(v)),
      })),
    ],
    axes: [
      { stroke: "#4b5563", grid: { stroke: "#e5e7eb" }, values: timeLabels, space: 60 },
      { label: yLabel, stroke: "#4b5563", grid: { stroke: "#e5e7eb" }, size: 60, values: (u, vals) => vals.map((v) => (v === null ? "" : yFormat(v))) },
    ],
    bands: fills,
    plugins: [decorations(bands, marks)],
    legend: { live: true },
    cursor: { drag: { x: true, y: false } },
  };
  if (series.some((s) => s.scale === "y2")) {
    opts.scales.y2 = { range: (u, lo, hi) => [0, hi > 0 ? hi * 1.1 : 1] };
    opts.axes.push({ side: 1, scale: "y2", label: y2Label, stroke: "#4b5563", grid: { show: false }, size: 60, values: (u, vals) => vals.map((v) => (v === null ? "" : y2Format(v))) });
  }
  return fit(el, new uPlot(opts, [x, ...series.map((s) => s.values)], el), height);
}

// Two distributions on the same bins or categories, as shares so that sizes compare.
export function overlayChart(el, { labels, reference, current, numeric, height = 240 }) {
  const share = (counts) => {
    const total = counts.reduce((a, b) => a + b, 0) || 1;
    return counts.map((c) => c / total);
  };
  const xs = labels.map((_, i) => i);
  const bars = uPlot.paths.bars;
  const opts = {
    width: Math.max(200, el.clientWidth),
    height,
    scales: { x: { time: false, range: [-0.5, labels.length - 0.5] }, y: { range: (u, lo, hi) => [0, hi * 1.1 || 1] } },
    series: [
      { label: numeric ? "bin" : "category", value: (u, v) => (v === null ? "–" : labels[v] ?? "") },
      { label: "reference", stroke: "#6b7280", fill: "rgba(107, 114, 128, 0.35)", paths: bars({ size: [0.42, 60], align: -1 }), points: { show: false }, value: (u, v) => (v === null ? "–" : (v * 100).toFixed(1) + "%") },
      { label: "current", stroke: "#2563eb", fill: "rgba(37, 99, 235, 0.45)", paths: bars({ size: [0.42, 60], align: 1 }), points: { show: false }, value: (u, v) => (v === null ? "–" : (v * 100).toFixed(1) + "%") },
    ],
    axes: [
      { stroke: "#4b5563", grid: { show: false }, space: 50, incrs: [1, 2, 5, 10], values: (u, vals) => vals.map((v) => (Number.isInteger(v) && labels[v] !== undefined ? truncate(labels[v], 14) : "")) },
      { label: "share", stroke: "#4b5563", grid: { stroke: "#e5e7eb" }, values: (u, vals) => vals.map((v) => (v * 100).toFixed(0) + "%") },
    ],
  };
  return fit(el, new uPlot(opts, [xs, share(reference), share(current)], el), height);
}

function truncate(text, n) {
  text = String(text);
  return text.length > n ? text.slice(0, n - 1) + "…" : text;
}

// Call durations in log-spaced bins; dragging over a region calls onSelect(fromMs, toMs).
export function durationHistogram(el, { bins, selected, onSelect, height = 150 }) {
  const xs = bins.map((b) => Math.sqrt(b.from_ms * b.to_ms));
  const counts = bins.map((b) => b.calls);
  const sel = selected && (selected[0] || selected[1]) ? selected : null;
  const opts = {
    width: Math.max(200, el.clientWidth),
    height,
    scales: { x: { time: false, distr: 3, range: (u, lo, hi) => [lo / 1.4, hi * 1.4] }, y: { range: (u, lo, hi) => [0, hi * 1.1 || 1] } },
    series: [
      { label: "duration", value: (u, v) => (v === null ? "–" : "≈ " + fmtMs(v)) },
      { label: "calls", stroke: "#2563eb", fill: "rgba(37, 99, 235, 0.4)", paths: uPlot.paths.bars({ size: [0.9, 40] }), points: { show: false } },
    ],
    axes: [
      { stroke: "#4b5563", grid: { show: false }, values: (u, vals) => vals.map((v) => (v === null ? "" : fmtMs(v))) },
      { stroke: "#4b5563", grid: { stroke: "#e5e7eb" }, size: 50, values: (u, vals) => vals.map((v) => fmtNum(v)) },
    ],
    cursor: { drag: { x: true, y: false, setScale: false } },
    hooks: {
      setSelect: [
        (u) => {
          if (u.select.width < 3) return;
          const from = u.posToVal(u.select.left, "x");
          const to = u.posToVal(u.select.left + u.select.width, "x");
          onSelect(from, to);
        },
      ],
    },
    plugins: sel ? [decorations([{ from: sel[0] || xs[0] / 2, to: sel[1] || xs[xs.length - 1] * 2, color: "rgba(37, 99, 235, 0.10)" }], [])] : [],
  };
  return fit(el, new uPlot(opts, [xs, counts], el), height);
}

// A small SVG line of values (null: a gap).
export function sparkline(values, { width = 110, height = 24, color = "#2563eb" } = {}) {
  const svgNs = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(svgNs, "svg");
  svg.setAttribute("width", width);
  svg.setAttribute("height", height);
  svg.setAttribute("class", "spark");
  const finite = values.filter((v) => v !== null && v !== undefined);
  if (!finite.length) return svg;
  const hi = Math.max(...finite);
  const lo = Math.min(0, ...finite);
  const step = width / Math.max(1, values.length - 1);
  let d = "";
  let pen = false;
  values.forEach((v, i) => {
    if (v === null || v === undefined) {
      pen = false;
      return;
    }
    const y = height - 2 - ((v - lo) / (hi - lo || 1)) * (height - 4);
    d += (pen ? "L" : "M") + (i * step).toFixed(1) + " " + y.toFixed(1);
    pen = true;
  });
  const path = document.createElementNS(svgNs, "path");
  path.setAttribute("d", d);
  path.setAttribute("fill", "none");
  path.setAttribute("stroke", color);
  path.setAttribute("stroke-width", "1.5");
  svg.append(path);
  const title = document.createElementNS(svgNs, "title");
  title.textContent = "p95 over the range, max " + fmtMs(hi);
  svg.append(title);
  return svg;
}

export function chartBox(cls = "chart") {
  return h("div", { class: cls });
}
