/* stock-tracker dashboard: Socket.IO events in, tables and charts out, commands to /api/control.
 * Everything from the server is written with textContent (posts and reasons are untrusted).
 * The token lives in sessionStorage only; it is never put in a URL. */
"use strict";

const body = document.body;
const STAGES = ["ingest", "score", "aggregate", "signal", "execute", "post_to_order", "record_to_emit"];
const COLORS = ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#e15759", "#9c755f"];
const MAX_ROWS = 200;
const MAX_POINTS = 600;
const MODELS = ["ensemble", "lexicon", "finbert", "groq", "claude"];  // the skill table's order

const state = {
  socket: null,
  signals: new Map(),     // id -> signal (upserted: the outcome arrives later)
  trades: [],
  positions: new Map(),   // symbol -> position
  sentiment: new Map(),   // ticker -> {x: [], decayed: [], mean: [], last, plot, el}
  latency: {x: [], series: STAGES.map(() => []), plot: null},
  budget: 200,
  skill: {last: null, plot: null, names: [], ics: [], intervals: []},  // the latest model_skill
  alerts: new Map(),      // id -> alert (its latest state, who acknowledged it)
  volatility: new Map(),  // ticker -> the LLM's read and the measured regime
  dirty: new Set(),
};

const $ = (id) => document.getElementById(id);
const fmt = (v, d = 2) => (v === null || v === undefined || Number.isNaN(v)) ? "-" : Number(v).toFixed(d);
const time = (ms) => ms ? new Date(ms).toISOString().slice(11, 19) : "-";

function cell(tr, text, cls) {
  const td = document.createElement("td");
  td.textContent = text === undefined || text === null ? "" : String(text);
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

function fillTable(id, rows, render) {
  const tbody = $(id).tBodies[0];
  const fresh = document.createElement("tbody");
  rows.slice(0, MAX_ROWS).forEach((row) => {
    const tr = document.createElement("tr");
    render(tr, row);
    fresh.appendChild(tr);
  });
  tbody.replaceWith(fresh);
}

// ---- token and connection ----------------------------------------------------------
function token() { return sessionStorage.getItem("stocktracker.token") || ""; }
function operator() { return $("operator").value.trim() || "operator"; }

function connect() {
  if (state.socket) state.socket.close();
  const socket = io({auth: {token: token()}, reconnectionDelayMax: 5000});
  state.socket = socket;
  socket.on("connect", () => setConn("connected", "on"));
  socket.on("disconnect", () => setConn("disconnected", "off"));
  socket.on("connect_error", (err) => setConn(`refused: ${err.message}`, "off"));
  socket.on("sentiment_update", (m) => batch(m, onSentiment, () => state.sentiment.forEach(resetSeries)));
  socket.on("signal_generated", (m) => batch(m, onSignal, () => state.signals.clear()));
  socket.on("trade_executed", (m) => batch(m, onTrade, () => { state.trades = []; }));
  socket.on("position_update", (m) => batch(m, onPosition, () => state.positions.clear()));
  socket.on("system_status", (m) => batch(m, onStatus));
  socket.on("latency_metrics", (m) => batch(m, onLatency, resetLatency));
  socket.on("model_skill", (m) => batch(m, onSkill));
  socket.on("alert_update", (m) => batch(m, onAlert, () => state.alerts.clear()));
  socket.on("volatility_update", (m) => batch(m, onVolatility, () => state.volatility.clear()));
}

function setConn(text, cls) {
  const el = $("conn-state");
  el.textContent = text;
  el.className = `badge ${cls}`;
}

function batch(message, handle, reset) {
  if (message.snapshot && reset) reset();
  message.items.forEach(handle);
  if (message.dropped) $("control-result").textContent = `(${message.dropped} older events skipped to keep up)`;
  scheduleRender();
}

// ---- events ------------------------------------------------------------------------
function onSentiment(p) {
  let s = state.sentiment.get(p.ticker);
  if (!s) {
    s = {x: [], decayed: [], mean: [], last: p, plot: null};
    state.sentiment.set(p.ticker, s);
  }
  s.x.push(p.t / 1000); s.decayed.push(p.decayed); s.mean.push(p.mean); s.last = p;
  if (s.x.length > MAX_POINTS) { s.x.shift(); s.decayed.shift(); s.mean.shift(); }
  state.dirty.add("sentiment");
}
function onVolatility(v) {
  state.volatility.set(v.ticker, v);
  state.dirty.add("volatility");
}
function resetSeries(s) { s.x.length = 0; s.decayed.length = 0; s.mean.length = 0; }

function onSignal(s) {
  state.signals.delete(s.id);
  state.signals.set(s.id, s);
  while (state.signals.size > MAX_ROWS) state.signals.delete(state.signals.keys().next().value);
  state.dirty.add("signals");
}

function onTrade(t) {
  state.trades.unshift(t);
  state.trades.length = Math.min(state.trades.length, MAX_ROWS);
  state.dirty.add("trades");
}

function onPosition(p) { state.positions.set(p.symbol, p); state.dirty.add("positions"); }

function onStatus(s) { state.status = s; state.dirty.add("status"); }

function onLatency(p) {
  state.budget = p.budget_ms || state.budget;
  if (p.rolling) state.rolling = p.rolling;
  const l = state.latency;
  l.x.push(p.t / 1000);
  STAGES.forEach((stage, i) => l.series[i].push(p.stages[stage] ? p.stages[stage].p99 : null));
  if (l.x.length > MAX_POINTS) { l.x.shift(); l.series.forEach((s) => s.shift()); }
  state.dirty.add("latency");
}
function onSkill(p) { state.skill.last = p; state.dirty.add("skill"); }

function onAlert(a) { state.alerts.set(a.id, a); state.dirty.add("alerts"); }

function resetLatency() { state.latency.x.length = 0; state.latency.series.forEach((s) => { s.length = 0; }); }

// ---- rendering (at most once per animation frame) ------------------------------------
let pending = false;
function scheduleRender() {
  if (pending) return;
  pending = true;
  requestAnimationFrame(() => { pending = false; render(); });
}

function render() {
  const dirty = new Set(state.dirty);
  state.dirty.clear();
  if (dirty.has("signals")) renderSignals();
  if (dirty.has("trades")) renderTrades();
  if (dirty.has("positions")) renderPositions();
  if (dirty.has("status")) renderStatus();
  if (dirty.has("sentiment")) renderSentiment();
  if (dirty.has("latency")) renderLatency();
  if (dirty.has("skill")) renderSkill();
  if (dirty.has("alerts")) renderAlerts();
  if (dirty.has("volatility")) renderVolatility();
  if (["sentiment", "signals", "positions"].some((k) => dirty.has(k))) renderUnderlyings();
}

function renderVolatility() {
  const rows = Array.from(state.volatility.values()).sort((a, b) => a.ticker.localeCompare(b.ticker));
  fillTable("volatility", rows, (tr, v) => {
    const c = v.llm_vol_counts || {};
    cell(tr, v.ticker); cell(tr, v.llm_vol || "-");
    cell(tr, `${c.low || 0} / ${c.normal || 0} / ${c.high || 0}`);
    cell(tr, fmt(v.llm_interval_width)); cell(tr, v.measured_regime || "-");
    cell(tr, v.agreement, v.agreement === "disagree" ? "down" : (v.agreement === "agree" ? "up" : ""));
  });
}

// ---- one row per underlying: its sentiment, signals and positions side by side --------
// (the same figures as GET /api/positions' "underlyings", from what this page was sent)
function renderUnderlyings() {
  const rows = new Map();
  const row = (t) => {
    if (!rows.has(t)) rows.set(t, {ticker: t, decayed: null, posts: null, signals: 0, qty: 0, premium: 0, pnl: 0});
    return rows.get(t);
  };
  state.sentiment.forEach((s, t) => { if (s.last) Object.assign(row(t), {decayed: s.last.decayed, posts: s.last.posts}); });
  state.signals.forEach((s) => { row(s.ticker).signals += 1; });
  state.positions.forEach((p) => {
    const r = row(p.underlying);
    r.qty += p.qty; r.premium += p.qty * p.avg_price * 100; r.pnl += p.realized_pnl + p.unrealized_pnl;
  });
  const sorted = Array.from(rows.values()).sort((a, b) => a.ticker.localeCompare(b.ticker));
  fillTable("underlyings", sorted, (tr, r) => {
    cell(tr, r.ticker); cell(tr, fmt(r.decayed), r.decayed === null ? "" : (r.decayed >= 0 ? "up" : "down"));
    cell(tr, r.posts ?? "-"); cell(tr, r.signals); cell(tr, r.qty); cell(tr, fmt(r.premium));
    cell(tr, fmt(r.pnl), r.pnl >= 0 ? "up" : "down");
  });
}

// ---- alerts: a banner while any fires unacknowledged, and the list -------------------
const SEVERITY = {critical: 2, warning: 1, info: 0};

function renderAlerts() {
  const all = Array.from(state.alerts.values());
  const firing = all.filter((a) => a.state !== "resolved")
    .sort((a, b) => (SEVERITY[b.severity] - SEVERITY[a.severity]) || (b.first_seen - a.first_seen));
  const loud = firing.filter((a) => !a.acknowledged_by);
  const banner = $("alert-banner");
  banner.hidden = loud.length === 0;
  banner.className = loud.some((a) => a.severity === "critical") ? "critical" : "warning";
  banner.textContent = loud.length ? `${loud.length} alert(s) firing: ` +
    loud.slice(0, 3).map((a) => `${a.rule} ${a.subject}`).join(", ") : "";
  const rows = firing.concat(all.filter((a) => a.state === "resolved").sort((a, b) => b.t - a.t))
    .slice(0, MAX_ROWS);
  fillTable("alerts", rows, (tr, a) => {
    tr.className = `alert-${a.state}`;
    cell(tr, time(a.first_seen));
    cell(tr, a.severity, `sev-${a.severity}`);
    cell(tr, `${a.rule} ${a.subject}`);
    cell(tr, a.message, "reason");
    cell(tr, a.state === "resolved" ? `resolved ${time(a.resolved)}` :
      a.acknowledged_by ? `ack by ${a.acknowledged_by} ${time(a.acknowledged_at)}` : "firing");
    const td = document.createElement("td");
    if (a.state !== "resolved" && !a.acknowledged_by) {
      const button = document.createElement("button");
      button.textContent = "Acknowledge";
      button.dataset.alert = a.id;
      button.disabled = body.dataset.controlEnabled !== "true";
      button.addEventListener("click", onAcknowledge);
      td.appendChild(button);
    }
    tr.appendChild(td);
  });
  $("alerts-count").textContent = `(${firing.length} firing)`;
}

async function onAcknowledge(event) {
  const id = event.currentTarget.dataset.alert;
  const result = $("alert-result");
  try {
    const res = await fetch(`/api/alerts/${encodeURIComponent(id)}/ack`, {
      method: "POST",
      headers: {"Authorization": `Bearer ${token()}`, "Content-Type": "application/json"},
      body: JSON.stringify({operator: operator()}),
    });
    const answer = await res.json();
    result.textContent = res.ok ? `${id} acknowledged (${answer.record.actor})` : `refused: ${answer.error}`;
    result.className = res.ok ? "up" : "down";
  } catch (err) {
    result.textContent = `acknowledge failed: ${err}`;
    result.className = "down";
  }
}

function renderSignals() {
  const rows = Array.from(state.signals.values()).reverse();
  fillTable("signals", rows, (tr, s) => {
    tr.className = s.direction;
    cell(tr, time(s.t)); cell(tr, s.ticker); cell(tr, s.direction);
    cell(tr, fmt(s.strength)); cell(tr, fmt(s.confidence)); cell(tr, `${s.posts}/${s.authors}`);
    cell(tr, s.reason, "reason");
    const o = s.outcome;
    cell(tr, o ? `${o.status}${o.reason ? ": " + o.reason : ""}` : "pending", o ? `st-${o.status}` : "muted");
  });
}

function renderTrades() {
  fillTable("trades", state.trades, (tr, t) => {
    cell(tr, time(t.t)); cell(tr, t.symbol); cell(tr, t.side); cell(tr, t.qty);
    cell(tr, fmt(t.price)); cell(tr, t.reason || t.intent, "reason");
  });
}

// the exits agent's flags on a position: its quote is stale (exits go at market), or its
// exit was refused too often (stranded: the operator must act)
const FLAGS = {
  stale: "no fresh quote: an exit goes at market",
  stranded: "exit refused too often: the operator must act",
};

function flags(td, p) {
  Object.entries(FLAGS).forEach(([name, why]) => {
    if (!p[name]) return;
    const badge = document.createElement("span");
    badge.className = `badge flag-${name}`;
    badge.textContent = name;
    badge.title = why;
    td.appendChild(badge);
  });
}

function renderPositions() {
  const all = Array.from(state.positions.values());
  const open = all.filter((p) => p.qty !== 0);
  const closed = all.filter((p) => p.qty === 0);
  fillTable("positions", open.concat(closed), (tr, p) => {
    if (p.qty === 0) tr.className = "closed";
    else if (p.stranded) tr.className = "stranded";
    cell(tr, p.symbol); flags(cell(tr, "", "flags"), p);
    cell(tr, p.qty); cell(tr, fmt(p.avg_price)); cell(tr, fmt(p.mark));
    cell(tr, fmt(p.unrealized_pnl), p.unrealized_pnl >= 0 ? "up" : "down");
    cell(tr, fmt(p.realized_pnl), p.realized_pnl >= 0 ? "up" : "down");
    const action = cell(tr, "");
    if (p.qty !== 0 && body.dataset.controlEnabled === "true") {
      const button = document.createElement("button");
      button.className = "warn close-position";
      button.textContent = "close";
      button.dataset.symbol = p.symbol;
      button.addEventListener("click", onClose);
      action.appendChild(button);
    }
  });
  const total = all.reduce((a, p) => a + p.realized_pnl + p.unrealized_pnl, 0);
  const stranded = open.filter((p) => p.stranded).length;
  $("pnl").textContent = `P&L today $${fmt(total)} (${open.length} open${stranded ? `, ${stranded} stranded` : ""})`;
}

const describe = (c) => `${c.command} ${Object.entries(c.params || {}).map(([k, v]) => `${k}=${v}`).join(" ")}`.trim();

function renderStatus() {
  const s = state.status;
  const t = s.trading;
  renderTrading(t);
  $("clock").textContent = s.pipeline_clock ? new Date(s.pipeline_clock).toISOString().replace("T", " ").slice(0, 19) + "Z" : "-";
  fillTable("components", s.components, (tr, c) => {
    cell(tr, c.name); cell(tr, c.state, `st-${c.state.replace(" ", "-")}`); cell(tr, c.detail);
  });
  const w = s.worker;
  $("lag").textContent = `worker group ${w.group || "?"}: ${w.state}, lag ${w.lag === null ? "?" : w.lag} records`;
  fillTable("audit", t.recent_commands || [], (tr, c) => {
    cell(tr, time(c.at)); cell(tr, c.actor); cell(tr, describe(c));
    const verdict = {pending: "sent, pending", applied: `applied by ${c.owner}`, refused: `refused: ${c.error || "?"}`}[c.status];
    cell(tr, verdict || c.status, `st-${c.status}`);
  });
}

// the switches shown are the owner's (from `switches`), never what was sent
function renderTrading(t) {
  const badge = $("trading-state");
  const owner = $("owner-state");
  if (!t.confirmed) {
    badge.textContent = "trading: not confirmed by the owner yet";
    badge.className = "badge unknown";
    owner.textContent = "not confirmed by the owner yet: no worker has said which state it applies";
    owner.className = "st-pending";
    $("owner-limits").textContent = "";
  } else {
    const label = t.killed ? "KILLED" : t.paused ? "PAUSED" : "ACTIVE";
    badge.textContent = `trading: ${label}`;
    badge.className = `badge ${t.entries_allowed ? "on" : "off"}`;
    const o = t.owner;
    const after = o.applied === "restore" ? "on taking over" : `after ${o.applied} by ${o.by}${o.accepted ? "" : " (refused)"}`;
    owner.textContent = `${label}, confirmed by ${o.actor} at ${time(o.at)} ${after}`;
    owner.className = t.entries_allowed ? "up" : "down";
    const limits = Object.entries(t.limits || {}).map(([k, v]) => `${k}=${v}`).join(", ");
    $("owner-limits").textContent = limits ? `limit overrides: ${limits}` : "no limit overrides";
  }
  const pending = t.pending || [];
  const list = $("pending-commands");
  list.textContent = pending.length ? pending.map((c) => `${describe(c)} by ${c.actor} at ${time(c.at)}`).join("; ") : "none";
  list.className = pending.length ? "st-pending" : "muted";
  if (pending.length && t.confirmed) badge.textContent += ` (${pending.length} pending)`;
}

function chart(el, title, series, yRange) {
  const opts = {
    title, width: Math.max(300, el.clientWidth - 10), height: 180,
    scales: {x: {time: true}, y: yRange ? {range: yRange} : {}},
    series: [{}].concat(series.map((s) => ({spanGaps: true, width: 1.5, ...s}))),
    legend: {live: false},
  };
  return new uPlot(opts, [[]].concat(series.map(() => [])), el);
}

function renderSentiment() {
  state.sentiment.forEach((s, ticker) => {
    if (!s.plot) {
      s.el = document.createElement("div");
      s.el.className = "chart";
      $("sentiment-charts").appendChild(s.el);
      s.plot = chart(s.el, ticker, [{label: "decayed", stroke: COLORS[0]}, {label: "window mean", stroke: COLORS[1]}], [-1, 1]);
    }
    s.plot.setData([s.x, s.decayed, s.mean]);
  });
  const rows = Array.from(state.sentiment.values()).map((s) => s.last);
  fillTable("sentiment", rows, (tr, p) => {
    cell(tr, p.ticker); cell(tr, fmt(p.decayed), p.decayed >= 0 ? "up" : "down"); cell(tr, fmt(p.mean));
    cell(tr, fmt(p.confidence)); cell(tr, p.posts); cell(tr, p.authors); cell(tr, fmt(p.momentum));
  });
}

function renderLatency() {
  const l = state.latency;
  if (!l.plot) {
    l.plot = chart($("latency-chart"), "p99 ms",
      STAGES.map((s, i) => ({label: s, stroke: COLORS[i]})).concat([{label: "budget", stroke: "#d00", dash: [6, 4]}]));
  }
  l.plot.setData([l.x].concat(l.series, [l.x.map(() => state.budget)]));
  $("budget").textContent = String(state.budget);
  const rolling = state.rolling || {};
  const rows = STAGES.filter((s) => rolling[s]).map((s) => ({stage: s, ...rolling[s]}));
  fillTable("latency-table", rows, (tr, r) => {
    const over = r.p99 > state.budget;
    cell(tr, r.stage); cell(tr, r.n, "num"); cell(tr, fmt(r.p50, 1), "num"); cell(tr, fmt(r.p99, 1), over ? "down num" : "up num");
    cell(tr, `${fmt(r.p99 / state.budget, 2)}x`, over ? "down" : "up");
  });
}

// ---- model skill: IC, hit rate and confidence sorting per model at one horizon -------
const signed = (v, d = 2) => (v === null || v === undefined) ? "-" : `${v > 0 ? "+" : ""}${Number(v).toFixed(d)}`;
const pct = (v) => (v === null || v === undefined) ? "-" : `${Math.round(v * 100)}%`;
const span = (i, show) => i ? `[${show(i[0])}, ${show(i[1])}]` : "-";

function skillModels(p) {
  const rank = (m) => (MODELS.indexOf(m) < 0 ? MODELS.length : MODELS.indexOf(m));
  return Object.keys(p.models || {}).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

// bars of IC per model with the bootstrap interval as error bars, on uPlot like the others
function drawIntervals(u) {
  const k = state.skill;
  const ctx = u.ctx;
  const px = window.devicePixelRatio || 1;
  ctx.save();
  ctx.strokeStyle = "#dfe4ea";
  ctx.lineWidth = 1.5 * px;
  k.intervals.forEach((iv, i) => {
    if (!iv || iv[0] === null || iv[1] === null) return;
    const x = u.valToPos(i, "x", true);
    const lo = u.valToPos(iv[0], "y", true);
    const hi = u.valToPos(iv[1], "y", true);
    const w = 6 * px;
    ctx.beginPath();
    ctx.moveTo(x, lo); ctx.lineTo(x, hi);
    ctx.moveTo(x - w, lo); ctx.lineTo(x + w, lo);
    ctx.moveTo(x - w, hi); ctx.lineTo(x + w, hi);
    ctx.stroke();
  });
  ctx.restore();
}

// symmetric around 0, wide enough for every bar and interval (at least +-0.1, at most +-1)
function skillRange() {
  const k = state.skill;
  const all = k.ics.concat(...k.intervals.map((i) => i || [])).filter((v) => v !== null && v !== undefined);
  const most = all.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
  const r = Math.min(1, Math.max(0.1, most * 1.15));
  return [-r, r];
}

function skillChart(el) {
  const k = state.skill;
  const opts = {
    title: "IC per model (bars) with its 95% interval", width: Math.max(300, el.clientWidth - 10), height: 200,
    scales: {x: {time: false, range: () => [-0.5, Math.max(k.names.length, 1) - 0.5]}, y: {range: skillRange}},
    axes: [
      {splits: () => k.names.map((_, i) => i), values: (u, splits) => splits.map((i) => k.names[i] || ""),
       grid: {show: false}, stroke: "#dfe4ea"},
      {stroke: "#dfe4ea"},
    ],
    series: [{}, {label: "IC", stroke: COLORS[0], fill: "rgba(78, 121, 167, 0.6)", width: 1,
                  fillTo: () => 0, points: {show: false}, paths: uPlot.paths.bars({size: [0.5, 80]})}],
    legend: {show: false},
    hooks: {draw: [drawIntervals]},
  };
  return new uPlot(opts, [[], []], el);
}

function renderSkill() {
  const k = state.skill;
  const p = k.last;
  if (!p) return;
  const select = $("skill-horizon");
  const h = select.value;
  const label = select.selectedOptions[0].textContent;
  const need = p.min_posts || 10;
  const rows = skillModels(p).map((model) => ({n: 0, ...(p.models[model][h] || {}), model}));
  const enough = rows.filter((r) => r.n >= need);
  const note = $("skill-note");
  const noMarket = (p.no_market || {})[h] || 0;
  if (!enough.length) {
    const most = rows.reduce((a, r) => Math.max(a, r.n), 0);
    note.textContent = `not enough posts yet: ${most} with a ${label} forward return (${need} needed), ` +
      `${p.posts} scored in the window`;
    note.className = "st-pending";
  } else {
    const from = p.t - (p.window_s + Math.max(...p.horizons)) * 1000;
    note.textContent = `${p.posts} posts scored from ${time(from)} to ${time(p.t)} (event time), ` +
      `${noMarket} without a fresh quote ${label} later. IC: rank correlation of score and the ` +
      `underlying's ${label} return; hit rate: calls (|score| >= ${p.threshold}) whose sign the ` +
      "return's matched; conf. sorts: rank correlation of confidence with being right.";
    note.className = "muted";
  }
  fillTable("skill", rows, (tr, r) => {
    cell(tr, r.model); cell(tr, r.n, "num");
    if (r.n < need) {
      cell(tr, "not enough posts yet", "few").colSpan = 6;
      return;
    }
    cell(tr, signed(r.ic, 3), r.ic > 0 ? "up num" : r.ic < 0 ? "down num" : "num");
    cell(tr, span(r.ic_interval, (v) => signed(v)));
    cell(tr, pct(r.hit_rate), "num"); cell(tr, `${r.hits}/${r.calls}`, "num");
    cell(tr, span(r.hit_interval, pct)); cell(tr, signed(r.sorting), "num");
  });
  k.names = rows.map((r) => r.model);
  k.intervals = rows.map((r) => (r.n >= need ? r.ic_interval : null));
  k.ics = rows.map((r) => (r.n >= need ? r.ic : null));
  if (!k.plot) k.plot = skillChart($("skill-chart"));
  k.plot.setData([rows.map((_, i) => i), k.ics]);
}

// ---- control -----------------------------------------------------------------------
function ask(what, detail) {
  const dialog = $("confirm-dialog");
  $("confirm-what").textContent = what;
  $("confirm-detail").textContent = detail;
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), {once: true});
    dialog.showModal();
  });
}

async function send(command, params) {
  const result = $("control-result");
  const reason = $("reason").value.trim();
  const payload = {command, params: params || {}, operator: operator(), confirm: true};
  if (reason) payload.reason = reason;
  try {
    const res = await fetch("/api/control", {
      method: "POST",
      headers: {"Authorization": `Bearer ${token()}`, "Content-Type": "application/json"},
      body: JSON.stringify(payload),
    });
    const answer = await res.json();
    result.textContent = res.ok ? `${command} sent (${answer.record.actor}): pending until the owner applies it` :
      `${command} refused: ${answer.error}`;
    result.className = res.ok ? "up" : "down";
  } catch (err) {
    result.textContent = `${command} failed: ${err}`;
    result.className = "down";
  }
}

async function onCommand(event) {
  const command = event.currentTarget.dataset.command;
  const params = {};
  if (command === "kill" && $("kill-flatten").checked) params.flatten = "true";
  const detail = {
    pause: "No new entries until resumed; exits still run.",
    resume: "Clears pause and kill: entries allowed again.",
    flatten: "Cancels open entries and closes every position.",
    kill: params.flatten ? "Stops all new orders, cancels entries AND closes every position." :
      "Stops all new orders and cancels open entries.",
  }[command];
  if (await ask(command.toUpperCase(), detail)) await send(command, params);
}

async function onClose(event) {
  const symbol = event.currentTarget.dataset.symbol;
  if (await ask(`CLOSE ${symbol}`, "Cancels its resting exits and sells the position at the bid.")) {
    await send("close", {symbol});
  }
}

async function onLimits(event) {
  event.preventDefault();
  const name = $("limit-name").value;
  const value = $("limit-value").value.trim();
  if (!value) return;
  if (await ask(`set_limits ${name}=${value}`, "Overrides the risk limit until reset.")) {
    await send("set_limits", {[name]: value});
  }
}

function init() {
  $("mode").textContent = body.dataset.mode;
  const limits = (body.dataset.limits || "").split(",").filter(Boolean);
  limits.forEach((name) => {
    const option = document.createElement("option");
    option.value = name; option.textContent = name;
    $("limit-name").appendChild(option);
  });
  document.querySelectorAll("button[data-command]").forEach((b) => b.addEventListener("click", onCommand));
  $("limits").addEventListener("submit", onLimits);
  $("skill-horizon").addEventListener("change", () => { state.dirty.add("skill"); scheduleRender(); });
  if (body.dataset.controlEnabled !== "true") {
    document.querySelectorAll("#panel-control button").forEach((b) => { b.disabled = true; });
    $("control-result").textContent = "control is off (no WEB_TOKEN set on the server)";
  }
  $("login").addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem("stocktracker.token", $("token").value);
    $("token").value = "";
    connect();
  });
  if (token() || body.dataset.viewsOpen === "true") connect();
}

init();
