// Shared by every page: the API client, DOM building, formatting and the URL state.
// Span data is untrusted text: it only ever reaches the page through textContent.

const TOKEN_KEY = "modeltrace.token";

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

let tokenPrompt = null;

// GET (or POST with a JSON body) one API route; on 401 asks for a token once and retries.
export async function api(path, params = {}, body = undefined) {
  const query = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v !== undefined && v !== null && v !== "") query.set(k, String(v));
  }
  const url = path + (query.toString() ? "?" + query : "");
  for (let attempt = 0; attempt < 3; attempt++) {
    const headers = { Accept: "application/json" };
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.Authorization = "Bearer " + token;
    const init = { headers };
    if (body !== undefined) {
      init.method = "POST";
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const answer = await fetch(url, init);
    const text = await answer.text();
    let data;
    try {
      data = JSON.parse(text);
    } catch {
      data = { error: text.slice(0, 300) };
    }
    // a key without the read scope (the API's other 403s, such as a refused SQL query, are answers)
    const lacksScope = answer.status === 403 && token && /lacks the .* scope/.test(data.error || "");
    if ((answer.status === 401 || lacksScope) && attempt < 2) {
      await askToken(lacksScope ? "That key does not have the read scope." : token ? "That key was refused." : "");
      continue;
    }
    if (!answer.ok) throw new ApiError(answer.status, data.error || answer.statusText);
    return data;
  }
  throw new ApiError(401, "no accepted token");
}

function askToken(why) {
  if (tokenPrompt) return tokenPrompt;
  tokenPrompt = new Promise((resolve) => {
    const input = h("input", { type: "password", id: "token-input", placeholder: "API key with the read scope", autocomplete: "off" });
    const dialog = h("dialog", { id: "token-dialog" },
      h("form", { method: "dialog" },
        h("h2", {}, "This collector needs an API key"),
        why ? h("p", { class: "error" }, why) : null,
        h("p", {}, "Create one with ", h("code", {}, "modeltrace keys create --scope read"), ". It is kept in this tab only."),
        input,
        h("div", { class: "row" }, h("button", { type: "submit", class: "primary" }, "Use this key"))));
    dialog.addEventListener("close", () => {
      // Escape closes it too: the key stays as it was, and the page's error offers a reload
      if (input.value.trim()) sessionStorage.setItem(TOKEN_KEY, input.value.trim());
      dialog.remove();
      tokenPrompt = null;
      resolve();
    });
    document.body.append(dialog);
    dialog.showModal();
    input.focus();
  });
  return tokenPrompt;
}

// h("a", {href: "#/x", class: "y", onclick: f}, "text", child, [more])
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

// bidirectional overrides in a name would show it reversed ("\u202Eevil" as "live"): shown as U+FFFD
const BIDI = /[\u202A-\u202E\u2066-\u2069]/g;

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c).replace(BIDI, "\uFFFD")));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

// -- formatting -------------------------------------------------------------------------

export function fmtMs(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "–";
  if (ms >= 60000) return (ms / 60000).toFixed(1) + " min";
  if (ms >= 1000) return (ms / 1000).toFixed(2) + " s";
  if (ms >= 100) return ms.toFixed(0) + " ms";
  if (ms >= 1) return ms.toFixed(1) + " ms";
  return (ms * 1000).toFixed(0) + " µs";
}

export function fmtNum(v, digits = 3) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  if (typeof v !== "number") return String(v);
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a < 1e-3 || a >= 1e7) return v.toExponential(2);
  if (Number.isInteger(v)) return v.toLocaleString("en-US");
  return v.toPrecision(digits).replace(/\.?0+$/, "");
}

export function fmtPct(v) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  if (v > 0 && v < 0.001) return "<0.1%";
  return (v * 100).toFixed(v < 0.1 ? 1 : 0) + "%";
}

// Times are shown in UTC, as the CLI shows them.
export function fmtTime(ms, withSeconds = false) {
  if (ms === null || ms === undefined) return "–";
  const iso = new Date(ms).toISOString();
  return iso.slice(0, 10) + " " + iso.slice(11, withSeconds ? 19 : 16) + " UTC";
}

export function ago(ms) {
  const s = Math.max(0, (Date.now() - ms) / 1000);
  if (s < 90) return Math.round(s) + " s ago";
  if (s < 5400) return Math.round(s / 60) + " min ago";
  if (s < 129600) return Math.round(s / 3600) + " h ago";
  return Math.round(s / 86400) + " d ago";
}

export function parseIsoMs(text) {
  return text ? Date.parse(text.endsWith("Z") || text.includes("+") ? text : text + "Z") : null;
}

// -- the URL: every view's state is in its hash, so a URL can be shared ---------------------

export function parseHash() {
  const raw = location.hash.replace(/^#\/?/, "");
  const [path, query] = raw.split("?", 2);
  const decode = (part) => {
    try {
      return decodeURIComponent(part);
    } catch {
      return part; // a malformed escape: taken as written
    }
  };
  const parts = path.split("/").filter(Boolean).map(decode);
  return { view: parts[0] || "models", id: parts.slice(1).join("/"), params: new URLSearchParams(query || "") };
}

export function hashFor(view, id = "", params = {}) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== null && v !== "") q.set(k, String(v));
  const path = "#/" + view + (id ? "/" + encodeURIComponent(id) : "");
  return path + (q.toString() ? "?" + q : "");
}

export const RANGES = [
  ["15m", "last 15 min", 900],
  ["1h", "last hour", 3600],
  ["2h", "last 2 h", 7200],
  ["6h", "last 6 h", 21600],
  ["24h", "last 24 h", 86400],
  ["7d", "last 7 days", 604800],
  ["30d", "last 30 days", 2592000],
];

// The time range of the URL: {start, end} in epoch ms (a relative range ends now).
// An absolute range of the URL, or null (absent, or not two epoch-millisecond times in order).
export function absoluteRange(params) {
  const start = Number(params.get("start"));
  const end = Number(params.get("end"));
  return params.get("start") && params.get("end") && Number.isFinite(start) && Number.isFinite(end) && start < end ? { start, end } : null;
}

export function timeRange(params, fallback = "1h") {
  const abs = absoluteRange(params);
  if (abs) return { ...abs, label: "absolute" };
  const key = params.get("range") || fallback;
  const found = RANGES.find((r) => r[0] === key) || RANGES.find((r) => r[0] === fallback);
  const now = Date.now();
  return { start: now - found[2] * 1000, end: now, label: found[0] };
}

// The range as API parameters: relative ranges as a window (the API ends it at its now).
export function rangeParams(params, fallback = "1h") {
  const abs = absoluteRange(params);
  if (abs) return abs;
  const key = params.get("range") || fallback;
  const found = RANGES.find((r) => r[0] === key) || RANGES.find((r) => r[0] === fallback);
  return { window: found[2] };
}

export function carry(params, ...names) {
  const out = {};
  for (const n of ["range", "start", "end", ...names]) if (params.get(n)) out[n] = params.get(n);
  return out;
}

// A table whose columns sort on a click; rows are objects, columns {key, label, value, render, num}.
// The rows in the order a sortableTable shows them.
export function sortRows(columns, rows, sortKey, desc = true) {
  const col = columns.find((c) => c.key === sortKey);
  return col ? [...rows].sort((a, b) => compare(value(col, a), value(col, b)) * (desc ? -1 : 1)) : rows;
}

export function sortableTable(columns, rows, { sortKey, desc = true, onSort, rowAttrs } = {}) {
  const sorted = sortRows(columns, rows, sortKey, desc);
  const head = h("tr", {}, columns.map((c) =>
    h("th", {
      class: (c.num ? "num " : "") + (c.key === sortKey ? (desc ? "sorted desc" : "sorted asc") : ""),
      onclick: c.sortable === false ? null : () => onSort && onSort(c.key, c.key === sortKey ? !desc : true),
      title: c.title || null,
    }, c.label)));
  const body = sorted.map((r) => h("tr", rowAttrs ? rowAttrs(r) : {}, columns.map((c) =>
    h("td", { class: c.num ? "num" : null }, c.render ? c.render(r) : fmtCell(value(c, r))))));
  return h("table", { class: "grid" }, h("thead", {}, head), h("tbody", {}, body));
}

function value(col, row) {
  return col.value ? col.value(row) : row[col.key];
}

function compare(a, b) {
  if (a === b) return 0;
  if (a === null || a === undefined) return -1;
  if (b === null || b === undefined) return 1;
  if (typeof a === "number" && typeof b === "number") return a - b;
  return String(a).localeCompare(String(b), "en", { numeric: true });
}

function fmtCell(v) {
  return typeof v === "number" ? fmtNum(v) : v === null || v === undefined ? "–" : String(v);
}

export function errorBox(err) {
  return h("div", { class: "error-box", role: "alert" }, err instanceof Error ? err.message : String(err));
}

export function section(title, ...children) {
  return h("section", { class: "card" }, h("h2", {}, title), ...children);
}

export function badge(text, kind = "") {
  return h("span", { class: "badge " + kind }, text);
}
