// Loyalty operations dashboard: plain JS, no dependencies, works offline.
"use strict";

const TOKEN_KEY = "loyalty.dashboard.token";
const FEED_MAX = 200;
const REFRESH_MS = 3000;
const $ = (id) => document.getElementById(id);
let refreshTimer = null;
let socket = null;
let lastEventId = null;

function token() { return sessionStorage.getItem(TOKEN_KEY); }

async function api(path) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${token()}` } });
  if (response.status === 401) { signOut(); throw new Error("session expired"); }
  if (!response.ok) throw new Error(`${path}: ${response.status}`);
  return response.json();
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v; else node.setAttribute(k, v);
  }
  for (const child of children) node.append(child === null || child === undefined ? "" : child);
  return node;
}

const short = (s) => (s && s.length > 14 ? `${s.slice(0, 8)}…${s.slice(-4)}` : s || "–");
const fmt = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"));
const secs = (n) => (n === null || n === undefined ? "–" : Number(n).toFixed(1));

// Token amounts are 18-decimal base units as decimal strings: format without floats losing the integer part.
function tokens(base, decimals = 18) {
  if (base === null || base === undefined) return "–";
  const s = String(base).padStart(decimals + 1, "0");
  const whole = s.slice(0, s.length - decimals);
  const frac = s.slice(s.length - decimals).replace(/0+$/, "").slice(0, 2);
  return BigInt(whole).toLocaleString("en-US") + (frac ? `.${frac}` : "");
}

function gwei(wei) { return wei === null || wei === undefined ? "–" : tokens(wei, 9); }

function fill(tbodyId, rows, empty) {
  const body = $(tbodyId);
  body.replaceChildren();
  if (!rows.length) {
    const cols = body.closest("table").querySelectorAll("thead th").length;
    body.append(el("tr", {}, el("td", { colspan: String(cols), class: "muted" }, empty)));
  }
  for (const row of rows) body.append(row);
}

const td = (text, cls) => el("td", cls ? { class: cls } : {}, text);

function render(s) {
  const t = s.totals;
  $("kpi-pending").textContent = fmt(s.queue.pending);
  $("kpi-batches").textContent = fmt(t.confirmed_batches);
  $("kpi-gas").textContent = t.gas_per_action ? `${fmt(t.gas_per_action)}` : "–";
  $("kpi-latency").textContent = `${secs(t.latency_p50_s)} / ${secs(t.latency_p95_s)} s`;
  $("kpi-chain").textContent = `${fmt(s.chain.head)} / ${fmt(s.chain.indexed_block)}`;
  $("queue-count").textContent = fmt(s.queue.pending);
  $("updated").textContent = new Date(s.generated_at).toLocaleTimeString();

  $("wallets-card").hidden = s.scope.brand_id !== null;
  fill("wallets", s.hot_wallets.map((w) => el("tr", {},
    td(el("code", {}, w.address)), td(tokens(w.balance_wei), "num"),
    td(el("span", { class: w.low ? "badge low" : "badge live" }, w.low ? "LOW BALANCE" : "ok")))),
    "no hot wallets");

  fill("brands", s.brands.map((b) => el("tr", {},
    td(`${b.name} (${b.slug})`), td(el("span", { title: b.token }, `${b.symbol} ${short(b.token)}${b.is_coalition ? " · coalition" : ""}`)),
    td(fmt(b.credits), "num"), td(tokens(b.issued), "num"), td(tokens(b.redeemed), "num"),
    td(fmt(b.holders), "num"), td(`${(Number(b.redemption_rate) * 100).toFixed(2)} %`, "num"))), "no brands yet");

  fill("batches", s.batches.map((b) => el("tr", {},
    td(el("code", { title: b.batch_id }, short(b.batch_id))),
    td(el("span", { class: `badge state-${b.state}`, title: b.reason || "" }, b.state)),
    td(fmt(b.recipients), "num"), td(fmt(b.actions), "num"), td(fmt(b.gas_per_recipient), "num"),
    td(gwei(b.fee_paid_wei), "num"), td(fmt(b.block_number), "num"), td(secs(b.latency_p95_s), "num"))),
    "no batches yet");

  fill("queue", s.queue.items.map((c) => el("tr", {},
    td(el("code", {}, short(c.action_id))), td(el("code", {}, short(c.wallet))), td(tokens(c.amount), "num"),
    td(secs(c.age_s), "num"), td(c.reason || "waiting for the next batch"))), "nothing pending");

  lineChart($("gas-chart"), [
    { name: "batched gas / action", color: "#1f5fbf", points: s.series.gas_per_action.map((p) => p.value) },
    { name: "one mint tx per action", color: "#c2410c", dashed: true,
      points: s.series.gas_per_action.map(() => s.series.naive_mint_gas) },
  ], "gas");
  lineChart($("latency-chart"), [
    { name: "p50", color: "#1f5fbf", points: s.series.latency_s.map((p) => p.p50) },
    { name: "p95", color: "#c2410c", points: s.series.latency_s.map((p) => p.p95) },
  ], "s");
}

// A small hand-drawn SVG line chart: x = batch order, y from 0 to the max value.
function lineChart(host, series, unit) {
  const W = 560, H = 200, L = 56, R = 10, T = 10, B = 24;
  const ns = "http://www.w3.org/2000/svg";
  const n = Math.max(0, ...series.map((s) => s.points.length));
  const max = Math.max(1, ...series.flatMap((s) => s.points.filter((v) => v !== null)));
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const add = (tag, attrs, text) => {
    const node = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    svg.append(node);
    return node;
  };
  const x = (i) => L + (n <= 1 ? (W - L - R) / 2 : (i * (W - L - R)) / (n - 1));
  const y = (v) => T + (H - T - B) * (1 - v / max);
  for (let k = 0; k <= 4; k++) {
    const v = (max * k) / 4;
    add("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), stroke: "#e4e7ec" });
    add("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end" }, v >= 1000 ? `${Math.round(v / 1000)}k` : v.toFixed(v < 10 ? 1 : 0));
  }
  add("text", { x: L, y: H - 6 }, n ? `${n} batch${n === 1 ? "" : "es"} (oldest → newest), ${unit}` : "no confirmed batches yet");
  for (const s of series) {
    const pts = s.points.map((v, i) => (v === null ? null : `${x(i)},${y(v)}`)).filter(Boolean);
    if (!pts.length) continue;
    add("polyline", { points: pts.join(" "), fill: "none", stroke: s.color, "stroke-width": 2,
      "stroke-dasharray": s.dashed ? "6 4" : "none" });
    if (pts.length === 1) { const [cx, cy] = pts[0].split(","); add("circle", { cx, cy, r: 3, fill: s.color }); }
  }
  const legend = document.createElement("p");
  legend.className = "legend";
  for (const s of series) {
    legend.append(el("span", { style: `color:${s.color};font-weight:700` }, s.dashed ? " - - " : " — "), s.name, "  ");
  }
  host.replaceChildren(svg, legend);
  host.setAttribute("aria-label", `${host.getAttribute("aria-label").split(":")[0]}: ${series
    .map((s) => `${s.name} latest ${s.points.length ? s.points[s.points.length - 1] : "none"}`).join(", ")}`);
}

function describe(e) {
  const d = e.data || {};
  switch (e.type) {
    case "action.credited": {
      const total = (d.credits || []).reduce((a, c) => a + BigInt(c.amount), 0n);
      return `${d.action_type} ${short(d.action_id)} → ${short(d.wallet)}: ${tokens(total.toString())} tokens`;
    }
    case "batch.confirmed":
      return `batch ${short(d.batch_id)} confirmed in block ${d.block_number}: ${d.credits} credits, ${tokens(d.amount)} tokens`;
    case "redemption.confirmed":
      return `redemption ${short(String(d.redemption_id))} by ${short(d.wallet)}: ${tokens(d.amount)} tokens (offer ${d.offer_id})`;
    case "promotion.budget_low":
      return `promotion ${d.promotion_id} spent ${tokens(d.spent)} of ${tokens(d.budget)}`;
    default:
      return JSON.stringify(d).slice(0, 160);
  }
}

function onEvent(e) {
  lastEventId = e.id;
  const feed = $("feed");
  const when = new Date(e.created_at);
  feed.prepend(el("li", { "data-type": e.type },
    el("time", { datetime: e.created_at }, when.toLocaleTimeString()),
    el("span", { class: "type" }, e.type), el("span", {}, `brand ${e.brand_id}: ${describe(e)}`)));
  while (feed.children.length > FEED_MAX) feed.lastChild.remove();
}

function connectFeed() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const resume = lastEventId === null ? "" : `?after=${lastEventId}`;
  // NOTE: browsers cannot set headers on WebSockets; the token travels as the `bearer, <token>` subprotocols.
  socket = new WebSocket(`${scheme}://${location.host}/v1/feed${resume}`, ["bearer", token()]);
  const state = $("feed-state");
  socket.onopen = () => { state.textContent = "live"; state.className = "badge live"; };
  socket.onmessage = (m) => onEvent(JSON.parse(m.data));
  socket.onclose = (ev) => {
    state.textContent = "offline"; state.className = "badge";
    socket = null;
    if (ev.code === 4401) { signOut(); return; }
    if (token()) setTimeout(connectFeed, 2000);
  };
}

async function refresh() {
  try { render(await api("/v1/dashboard/summary")); } catch (err) { console.warn(err); }
}

const FEED_BACKLOG = 30;  // events replayed on first connect, so the feed is never empty after a reload

async function start() {
  const me = await api("/v1/auth/me");
  $("who").textContent = `${me.subject} · ${me.role}${me.brand_id ? ` · brand ${me.brand_id}` : " · all brands"}`;
  $("login").hidden = true;
  $("app").hidden = false;
  $("logout").hidden = false;
  const first = await api("/v1/dashboard/summary");
  render(first);
  if (lastEventId === null && first.last_event_id) lastEventId = Math.max(0, first.last_event_id - FEED_BACKLOG);
  refreshTimer = setInterval(refresh, REFRESH_MS);
  connectFeed();
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  clearInterval(refreshTimer);
  if (socket) socket.close();
  $("app").hidden = true;
  $("logout").hidden = true;
  $("login").hidden = false;
  $("who").textContent = "";
}

$("login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  $("login-error").textContent = "";
  const body = new URLSearchParams(new FormData(ev.target));
  const response = await fetch("/v1/auth/token", { method: "POST", body });
  if (!response.ok) {
    $("login-error").textContent = response.status === 401 ? "Wrong email or password." : `Sign-in failed (${response.status}).`;
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, (await response.json()).access_token);
  start().catch((err) => { $("login-error").textContent = String(err); });
});
$("logout").addEventListener("click", signOut);
if (token()) start().catch(signOut);
