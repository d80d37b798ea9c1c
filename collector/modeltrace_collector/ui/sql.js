// The read-only SQL endpoint: an editor, example queries, a results table and CSV download.
import { api, clear, fmtNum, h } from "./lib.js";

export const EXAMPLES = [
  ["Calls and p95 per model and version, last day",
    "SELECT ModelName, ModelVersion, count() AS calls,\n       round(quantile(0.95)(Duration) / 1e6, 2) AS p95_ms,\n       countIf(StatusCode = 'Error') AS errors\nFROM ml_predictions\nWHERE Timestamp > now() - INTERVAL 1 DAY\nGROUP BY ModelName, ModelVersion\nORDER BY calls DESC"],
  ["Slowest calls of the last hour",
    "SELECT Timestamp, ModelName, ModelVersion, Duration / 1e6 AS ms, HostName, TraceId\nFROM ml_predictions\nWHERE Timestamp > now() - INTERVAL 1 HOUR\nORDER BY Duration DESC\nLIMIT 20"],
  ["Per-minute p99 of every model (rollup)",
    "SELECT Minute, ModelName, sum(Calls) AS calls,\n       round(quantilesTDigestMerge(0.99)(Durations)[1] / 1e6, 2) AS p99_ms\nFROM ml_latency_minutes\nWHERE Minute > now() - INTERVAL 1 HOUR\nGROUP BY Minute, ModelName\nORDER BY Minute DESC, ModelName"],
  ["Mean of every numeric input feature per version",
    "SELECT ModelName, ModelVersion, feature, round(avg(value), 4) AS mean, count() AS values\nFROM ml_features\nARRAY JOIN NumFeature AS feature, NumValue AS value\nWHERE Side = 'input' AND Timestamp > now() - INTERVAL 1 DAY AND NOT isNaN(value)\nGROUP BY ModelName, ModelVersion, feature\nORDER BY ModelName, feature, ModelVersion"],
  ["Open findings",
    "SELECT OpenedAt, Kind, ModelName, ModelVersion, Subject, Severity, Score\nFROM ml_findings FINAL\nWHERE ResolvedAt IS NULL\nORDER BY OpenedAt DESC"],
  ["Spans by name (every service)",
    "SELECT ServiceName, SpanName, count() AS spans, round(quantile(0.99)(Duration) / 1e6, 2) AS p99_ms\nFROM otel_traces\nWHERE Timestamp > now() - INTERVAL 1 DAY\nGROUP BY ServiceName, SpanName\nORDER BY spans DESC"],
];

export function renderSql(root, route, ctx) {
  const editor = h("textarea", { id: "sql-editor", spellcheck: "false", rows: 10 });
  editor.value = route.params.get("q") || EXAMPLES[0][1];
  const examples = h("select", { id: "sql-examples" }, h("option", { value: "" }, "example queries …"),
    EXAMPLES.map(([title], i) => h("option", { value: String(i) }, title)));
  const run = h("button", { type: "button", class: "primary", id: "sql-run" }, "Run (Ctrl+Enter)");
  const download = h("button", { type: "button", id: "sql-csv", disabled: true }, "Download CSV");
  const status = h("span", { class: "muted", id: "sql-status" });
  const results = h("div", { class: "table-box", id: "sql-results" });
  let last = null;
  clear(root,
    h("div", { class: "page-head" }, h("h1", {}, "SQL"), h("span", { class: "muted" }, "read-only, over the product's tables (otel_traces, ml_predictions, ml_features, ml_latency_minutes, ml_findings, …)")),
    h("section", { class: "card" }, editor, h("div", { class: "row" }, run, examples, download, status)),
    results);
  examples.addEventListener("change", () => {
    if (examples.value === "") return;
    editor.value = EXAMPLES[Number(examples.value)][1];
    examples.value = "";
    execute();
  });
  editor.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
      e.preventDefault();
      execute();
    }
  });
  run.addEventListener("click", execute);
  download.addEventListener("click", () => last && saveCsv(last));

  async function execute() {
    ctx.replaceParams({ q: editor.value });
    status.textContent = "running …";
    download.disabled = true;
    const started = performance.now();
    try {
      const answer = await api("/api/sql", {}, { query: editor.value });
      last = answer;
      status.textContent = `${fmtNum(answer.row_count)} rows in ${((performance.now() - started) / 1000).toFixed(2)} s` + (answer.truncated ? ` · ${answer.message}` : "");
      download.disabled = false;
      clear(results, resultTable(answer));
    } catch (err) {
      status.textContent = "";
      clear(results, h("div", { class: "error-box", role: "alert", id: "sql-error" }, err.message));
    }
  }

  return { load: () => (route.params.get("q") ? execute() : Promise.resolve()), live: false };
}

function resultTable(answer) {
  return h("table", { class: "grid" },
    h("thead", {}, h("tr", {}, answer.columns.map((c) => h("th", {}, c)))),
    h("tbody", {}, answer.rows.map((row) => h("tr", {}, row.map((v) => h("td", { class: typeof v === "number" ? "num" : null }, v === null ? "NULL" : typeof v === "object" ? JSON.stringify(v) : String(v)))))));
}

function csvCell(v) {
  const text = v === null ? "" : typeof v === "object" ? JSON.stringify(v) : String(v);
  return /[",\n\r]/.test(text) ? '"' + text.replace(/"/g, '""') + '"' : text;
}

export function toCsv(answer) {
  return [answer.columns, ...answer.rows].map((r) => r.map(csvCell).join(",")).join("\r\n") + "\r\n";
}

function saveCsv(answer) {
  const url = URL.createObjectURL(new Blob([toCsv(answer)], { type: "text/csv" }));
  const a = h("a", { href: url, download: "modeltrace-query.csv" });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
