// floe's dashboard: a single page over the JobManager's REST interface.
// Every URL is relative to the page, so it works behind YARN's web proxy
// (http://<rm>/proxy/<application>/) as well as on the JobManager's port.
"use strict";

const REFRESH_MS = 2000;
let timer = null;

function esc(s) {
  return String(s === undefined || s === null ? "" : s).replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;"}[c]));
}
// fetchT is fetch with a timeout, so that one stuck request does not stop the refreshes.
function fetchT(path, opts) {
  const c = new AbortController(), t = setTimeout(() => c.abort(), 10000);
  return fetch(path, Object.assign({signal: c.signal, cache: "no-store"}, opts || {})).finally(() => clearTimeout(t));
}
async function getJSON(path) {
  const r = await fetchT(path, {headers: {"Accept": "application/json"}});
  if (!r.ok) throw new Error(path + ": " + r.status + " " + (await r.text()));
  return r.json();
}
async function getText(path) {
  const r = await fetchT(path);
  return r.text();
}
function num(n) { return n === undefined || n === null ? "-" : Number(n).toLocaleString("en-US"); }
function rate(n) { return n ? Number(n).toLocaleString("en-US", {maximumFractionDigits: 1}) + "/s" : "0/s"; }
function bytes(n) {
  if (!n) return "0 B";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"]; let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return n.toFixed(i ? 1 : 0) + " " + u[i];
}
function dur(ms) {
  if (ms === undefined || ms === null || ms < 0) return "-";
  if (ms < 1000) return ms + " ms";
  const s = Math.floor(ms / 1000), h = Math.floor(s / 3600), m = Math.floor(s % 3600 / 60);
  return (h ? h + "h " : "") + (h || m ? m + "m " : "") + (s % 60) + "s";
}
function time(ms) { return ms > 0 ? new Date(ms).toLocaleString() : "-"; }
function wm(ms) { return ms === undefined || ms === null ? "No watermark" : new Date(ms).toISOString(); }
function status(s) { return `<span class="status ${esc(s)}">${esc(s)}</span>`; }
function bp(level) { return `<span class="bp ${esc(level)}">${esc(level)}</span>`; }
function table(head, rows, cls) {
  return `<table${cls ? ` class="${cls}"` : ""}><thead><tr>${head.map(h => `<th>${esc(h)}</th>`).join("")}</tr></thead><tbody>${rows.join("") || `<tr><td colspan="${head.length}" class="muted">none</td></tr>`}</tbody></table>`;
}

// Pages, by route: #/, #/job/<id>[/<tab>], #/job/<id>/vertex/<vid>, #/taskmanagers, #/taskmanager/<id>, #/jobmanager.
async function overview() {
  const [o, jobs] = await Promise.all([getJSON("overview"), getJSON("jobs/overview")]);
  const cards = [["TaskManagers", o.taskmanagers], ["Slots total", o["slots-total"]], ["Slots available", o["slots-available"]],
    ["Jobs running", o["jobs-running"]], ["Finished", o["jobs-finished"]], ["Canceled", o["jobs-cancelled"]], ["Failed", o["jobs-failed"]]];
  const rows = jobs.jobs.map(j => `<tr class="job" data-job="${esc(j.jid)}"><td><a href="#/job/${esc(j.jid)}">${esc(j.name)}</a></td><td><code>${esc(j.jid)}</code></td>
    <td>${status(j.state)}</td><td>${time(j["start-time"])}</td><td>${dur(j.duration)}</td><td>${j.vertices.length}</td></tr>`);
  return `<h1>Overview <span class="muted">floe ${esc(o["floe-version"])}</span></h1>
    <div class="cards">${cards.map(([l, n]) => `<div class="card"><div class="n">${num(n)}</div><div class="l">${l}</div></div>`).join("")}</div>
    <h2>Jobs</h2>${table(["Name", "Job id", "Status", "Started", "Duration", "Tasks"], rows, "jobs")}`;
}

// layout places the plan's nodes in columns by their longest path from a source.
function layout(nodes) {
  const col = {}, byId = {};
  nodes.forEach(n => { byId[n.id] = n; });
  const depth = n => {
    if (col[n.id] !== undefined) return col[n.id];
    col[n.id] = 0;
    let d = 0;
    (n.inputs || []).forEach(i => { if (byId[i.id]) d = Math.max(d, depth(byId[i.id]) + 1); });
    return (col[n.id] = d);
  };
  nodes.forEach(depth);
  const rows = {}, pos = {};
  nodes.forEach(n => { const c = col[n.id]; rows[c] = (rows[c] || 0); pos[n.id] = {c, r: rows[c]++}; });
  return pos;
}

function graph(job) {
  const W = 250, H = 118, GX = 90, GY = 30, PAD = 20;
  const pos = layout(job.plan.nodes), vs = {};
  job.vertices.forEach(v => { vs[v.id] = v; });
  let maxC = 0, maxR = 0;
  Object.values(pos).forEach(p => { maxC = Math.max(maxC, p.c); maxR = Math.max(maxR, p.r); });
  const x = id => PAD + pos[id].c * (W + GX), y = id => PAD + pos[id].r * (H + GY);
  let edges = "", boxes = "";
  job.plan.nodes.forEach(n => (n.inputs || []).forEach(i => {
    if (pos[i.id] === undefined) return;
    const x1 = x(i.id) + W, y1 = y(i.id) + H / 2, x2 = x(n.id), y2 = y(n.id) + H / 2, mx = (x1 + x2) / 2;
    edges += `<path class="edge" d="M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2 - 4},${y2}"/>` +
      `<text class="edge-label" x="${mx}" y="${(y1 + y2) / 2 - 4}" text-anchor="middle">${esc(i.ship_strategy)}</text>`;
  }));
  job.plan.nodes.forEach(n => {
    const v = vs[n.id] || {metrics: {}}, m = v.metrics, level = m["backpressure-level"] || "OK";
    const name = n.description.length > 34 ? n.description.slice(0, 33) + "…" : n.description;
    boxes += `<a href="#/job/${esc(job.jid)}/vertex/${n.id}"><g class="vertex bp-${esc(level)}" data-vertex="${n.id}" data-name="${esc(n.description)}" data-backpressure="${esc(level)}" transform="translate(${x(n.id)},${y(n.id)})">
      <title>${esc(n.description)}</title>
      <rect width="${W}" height="${H}"></rect>
      <text class="name" x="10" y="18">${esc(name)}</text>
      <text x="10" y="36">Parallelism ${n.parallelism} · ${esc(v.status)}</text>
      <text class="dim" x="10" y="54">In ${num(m["read-records"])} (${rate(m["read-records-per-second"])})</text>
      <text class="dim" x="10" y="70">Out ${num(m["write-records"])} (${rate(m["write-records-per-second"])})</text>
      <text class="dim" x="10" y="86">Back-pressure ${esc(level)} · busy ${Math.round((m["accumulated-busy-time"] || 0) / 10)}%</text>
      <text class="dim" x="10" y="104">Watermark ${esc(m["current-input-watermark"] !== undefined ? wm(m["current-input-watermark"]) : (m["current-output-watermark"] !== undefined ? wm(m["current-output-watermark"]) : "none"))}</text>
    </g></a>`;
  });
  const w = PAD * 2 + (maxC + 1) * W + maxC * GX, h = PAD * 2 + (maxR + 1) * H + maxR * GY;
  return `<div id="graph"><svg width="${w}" height="${h}" xmlns="http://www.w3.org/2000/svg">
    <defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0 L10,5 L0,10 z" fill="#8da2b8"/></marker></defs>
    ${edges}${boxes}</svg></div>`;
}

async function jobPage(id, tab) {
  const job = await getJSON("jobs/" + id);
  const base = `#/job/${esc(id)}`;
  const tabs = [["overview", "Overview"], ["exceptions", "Exceptions"], ["checkpoints", "Checkpoints"], ["configuration", "Configuration"]];
  let body = "";
  if (tab === "exceptions") body = await exceptions(id);
  else if (tab === "checkpoints") body = await checkpoints(id);
  else if (tab === "configuration") body = await jobConfig(id);
  else {
    const rows = job.vertices.map(v => { const m = v.metrics; return `<tr class="vertex-row" data-vertex="${v.id}"><td><a href="${base}/vertex/${v.id}">${esc(v.name)}</a></td>
      <td>${v.parallelism}</td><td>${status(v.status)}</td><td>${num(m["read-records"])}</td><td>${rate(m["read-records-per-second"])}</td>
      <td>${num(m["write-records"])}</td><td>${rate(m["write-records-per-second"])}</td><td>${bytes(m["read-bytes"])} / ${bytes(m["write-bytes"])}</td>
      <td>${bp(m["backpressure-level"])}</td><td>${Math.round((m["accumulated-busy-time"] || 0) / 10)}%</td><td>${esc(m["current-input-watermark"] !== undefined ? wm(m["current-input-watermark"]) : "-")}</td></tr>`; });
    body = graph(job) + "<h2>Vertices</h2>" + table(["Name", "Parallelism", "Status", "Records in", "In rate", "Records out", "Out rate", "Bytes in / out", "Back-pressure", "Busy", "Input watermark"], rows, "vertices");
  }
  const running = !["FINISHED", "FAILED", "CANCELED"].includes(job.state);
  return `<h1>${esc(job.name)} ${status(job.state)}</h1>
    <div class="muted">Job <code>${esc(job.jid)}</code> · started ${time(job["start-time"])} · ${dur(job.duration)} · restarts ${job["num-restarts"] || 0}</div>
    ${job["failure-cause"] ? `<div class="root error">${esc(job["failure-cause"])}</div>` : ""}
    ${running ? `<div class="actions"><button class="danger" id="cancel" onclick="cancelJob('${esc(id)}')">Cancel job</button><button id="savepoint" onclick="savepoint('${esc(id)}')">Trigger savepoint</button></div>` : ""}
    <div class="tabs">${tabs.map(([t, l]) => `<a href="${base}/${t}" class="${(tab || "overview") === t ? "active" : ""}">${l}</a>`).join("")}</div>${body}`;
}

async function vertexPage(id, vid) {
  const v = await getJSON(`jobs/${id}/vertices/${vid}`);
  const rows = v.subtasks.map(s => { const m = s.metrics; return `<tr class="subtask" data-subtask="${s.subtask}"><td>${s.subtask}</td><td>${status(s.status)}</td><td>${s.attempt}</td>
    <td><a href="#/taskmanager/${encodeURIComponent(s["taskmanager-id"])}">${esc(s["taskmanager-id"])}</a></td><td>${esc(s.host)}</td>
    <td>${num(m["read-records"])}</td><td>${rate(m["read-records-per-second"])}</td><td>${num(m["write-records"])}</td><td>${rate(m["write-records-per-second"])}</td>
    <td>${bp(s["backpressure-level"])} ${Math.round(m.backPressuredTimeMsPerSecond / 10)}%</td><td>${Math.round(m.busyTimeMsPerSecond / 10)}% / ${Math.round(m.idleTimeMsPerSecond / 10)}%</td>
    <td>${Math.round(m.inPoolUsage * 100)}% / ${Math.round(m.outPoolUsage * 100)}%</td><td>${esc(m.currentInputWatermark !== undefined ? wm(m.currentInputWatermark) : "-")}</td><td>${esc(m.currentOutputWatermark !== undefined ? wm(m.currentOutputWatermark) : "-")}</td></tr>`; });
  return `<h1><a href="#/job/${esc(id)}">Job</a> › ${esc(v.name)} ${status(v.status)}</h1>
    <div class="muted">Parallelism ${v.parallelism} · back-pressure ${bp(v.metrics["backpressure-level"])}</div><h2>Subtasks</h2>
    ${table(["#", "Status", "Attempt", "TaskManager", "Host", "Records in", "In rate", "Records out", "Out rate", "Back-pressured", "Busy / idle", "In / out queue", "Input watermark", "Output watermark"], rows, "subtasks")}`;
}

async function exceptions(id) {
  const x = await getJSON(`jobs/${id}/exceptions`);
  const entries = (x.exceptionHistory && x.exceptionHistory.entries) || [];
  const rows = entries.map(e => `<tr class="exception"><td>${time(e.timestamp)}</td><td>${esc(e.taskName || "-")}${e.subtaskIndex >= 0 ? " #" + e.subtaskIndex : ""}</td>
    <td>${esc(e.taskManagerId || "-")}</td><td>${esc(e.exceptionName)}${e.stacktrace ? `<pre class="trace">${esc(e.stacktrace)}</pre>` : ""}</td></tr>`);
  return `<div id="exceptions">${x["root-exception"] ? `<h2>Root cause</h2><div class="root" id="root-exception">${esc(x["root-exception"])}<div class="muted">${time(x.timestamp)}</div></div>` : `<p class="muted">No failure.</p>`}
    <h2>History</h2>${table(["Time", "Task", "TaskManager", "Exception"], rows, "exceptions")}</div>`;
}

async function checkpoints(id) {
  const c = await getJSON(`jobs/${id}/checkpoints`);
  const rows = (c.history || []).map(h => `<tr class="checkpoint" data-id="${h.id}" data-status="${esc(h.status)}" data-size="${h.state_size}"><td>${h.id}${h.is_savepoint ? " (savepoint)" : ""}</td><td>${status(h.status)}</td>
    <td>${time(h.trigger_timestamp)}</td><td>${h.status === "IN_PROGRESS" ? "-" : dur(h.end_to_end_duration)}</td><td class="size">${bytes(h.state_size)}</td>
    <td>${dur(h.alignment_duration)}</td><td>${h.num_acknowledged_subtasks}/${h.num_subtasks}</td><td>${esc(h.failure_message || "")}</td></tr>`);
  const last = c.latest && c.latest.completed;
  const cfg = Object.entries(c.config || {}).map(([k, v]) => `<tr><td>${esc(k)}</td><td>${esc(v)}</td></tr>`);
  const detail = last ? Object.entries(last.subtasks || {}).map(([v, subs]) => subs.map(s => `<tr><td>${esc(v)}</td><td>${s.index}</td><td>${time(s.ack_timestamp)}</td><td>${dur(s.end_to_end_duration)}</td><td>${bytes(s.state_size)}</td><td>${dur(s.alignment_duration)}</td></tr>`).join("")) : [];
  return `<div class="cards"><div class="card"><div class="n">${c.counts.completed}</div><div class="l">Completed</div></div>
    <div class="card"><div class="n">${c.counts.failed}</div><div class="l">Failed</div></div><div class="card"><div class="n">${c.counts.in_progress}</div><div class="l">In progress</div></div>
    <div class="card"><div class="n">${c.latest && c.latest.restored ? c.latest.restored : "-"}</div><div class="l">Restored from</div></div></div>
    <h2>History</h2>${table(["Id", "Status", "Triggered", "Duration", "State size", "Alignment", "Acknowledged", "Failure"], rows, "checkpoints")}
    <h2>Latest completed: per subtask</h2>${table(["Vertex", "Subtask", "Acknowledged", "Duration", "State size", "Alignment"], detail)}
    <h2>Configuration</h2>${table(["Key", "Value"], cfg)}`;
}

async function jobConfig(id) {
  const c = await getJSON(`jobs/${id}/config`);
  const rows = Object.keys(c["execution-config"] || {}).sort().map(k => `<tr><td>${esc(k)}</td><td>${esc(c["execution-config"][k])}</td></tr>`);
  return table(["Key", "Value"], rows, "config");
}

async function taskManagers() {
  const t = await getJSON("taskmanagers");
  const rows = t.taskmanagers.map(m => `<tr class="taskmanager" data-tm="${esc(m.id)}"><td><a href="#/taskmanager/${encodeURIComponent(m.id)}">${esc(m.id)}</a></td><td>${esc(m.path)}</td>
    <td>${m.slotsNumber}</td><td>${m.freeSlots}</td><td>${bytes(m["heap-bytes"])} / ${bytes(m["heap-goal-bytes"])}</td><td>${bytes(m["rss-bytes"])}</td><td>${num(m.goroutines)}</td>
    <td>${esc(m["metrics-address"] || "-")}</td><td>${m.pid}</td><td>${time(m.timeSinceLastHeartbeat)}</td></tr>`);
  return `<h1>TaskManagers</h1>${table(["Id", "Address", "Slots", "Free", "Heap / goal", "Resident", "Goroutines", "Metrics", "PID", "Last heartbeat"], rows, "taskmanagers")}`;
}

async function taskManager(id) {
  const [t, log] = await Promise.all([getJSON("taskmanagers"), getText("taskmanagers/" + encodeURIComponent(id) + "/log")]);
  const m = t.taskmanagers.find(x => x.id === id);
  return `<h1><a href="#/taskmanagers">TaskManagers</a> › ${esc(id)}</h1>
    ${m ? `<div class="cards"><div class="card"><div class="n">${m.slotsNumber}</div><div class="l">Slots</div></div><div class="card"><div class="n">${m.freeSlots}</div><div class="l">Free slots</div></div>
    <div class="card"><div class="n">${bytes(m["heap-bytes"])}</div><div class="l">Heap (goal ${bytes(m["heap-goal-bytes"])})</div></div>
    <div class="card"><div class="n">${bytes(m["rss-bytes"])}</div><div class="l">Resident memory</div></div><div class="card"><div class="n">${num(m.goroutines)}</div><div class="l">Goroutines</div></div>
    <div class="card"><div class="n">${num(m["gc-cycles"])}</div><div class="l">GC cycles</div></div>
    <div class="card"><div class="n">${esc(m["metrics-address"] || "-")}</div><div class="l">Prometheus /metrics</div></div></div>` : `<p class="error">No longer registered.</p>`}
    <h2>Log</h2><pre class="log" id="tm-log">${esc(log)}</pre>`;
}

async function jobManager() {
  const [cfg, log] = await Promise.all([getJSON("jobmanager/config"), getText("jobmanager/log")]);
  return `<h1>JobManager</h1><h2>Configuration</h2>${table(["Key", "Value"], cfg.map(e => `<tr><td>${esc(e.key)}</td><td>${esc(e.value)}</td></tr>`), "jm-config")}
    <h2>Log</h2><pre class="log" id="jm-log">${esc(log)}</pre>`;
}

function secret() {
  let s = sessionStorage.getItem("floe-secret");
  if (!s) {
    s = prompt("The application's secret (floe prints where to find it; the REST API changes nothing without it):");
    if (s) sessionStorage.setItem("floe-secret", s);
  }
  return s;
}
async function post(path, body) {
  const s = secret();
  if (!s) return;
  const r = await fetch(path, {method: "POST", headers: {"X-Floe-Secret": s, "Content-Type": "application/json"}, body: body ? JSON.stringify(body) : undefined});
  const text = await r.text();
  if (r.status === 403) sessionStorage.removeItem("floe-secret");
  alert(r.ok ? "Done: " + text : "Refused (" + r.status + "): " + text);
  render();
}
function cancelJob(id) { if (confirm("Cancel job " + id + "?")) post(`jobs/${id}/cancel`); }
function savepoint(id) {
  const dir = prompt("Savepoint directory (empty: the configured one):", "");
  if (dir !== null) post(`jobs/${id}/savepoints`, {"target-directory": dir, "cancel-job": false});
}

async function render() {
  clearTimeout(timer);
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  let page;
  document.querySelectorAll("header nav a").forEach(a => a.classList.toggle("active", a.dataset.nav === (parts[0].startsWith("taskmanager") ? "taskmanagers" : parts[0] || "overview")));
  try {
    if (parts[0] === "job" && parts[2] === "vertex") page = await vertexPage(parts[1], parts[3]);
    else if (parts[0] === "job") page = await jobPage(parts[1], parts[2]);
    else if (parts[0] === "taskmanagers") page = await taskManagers();
    else if (parts[0] === "taskmanager") page = await taskManager(parts[1]);
    else if (parts[0] === "jobmanager") page = await jobManager();
    else page = await overview();
    const main = document.getElementById("main"), logs = main.querySelector("pre.log"), keep = logs ? logs.scrollTop : null;
    main.innerHTML = page;
    const nl = main.querySelector("pre.log");
    if (nl) nl.scrollTop = keep === null ? nl.scrollHeight : keep;
    document.getElementById("refreshed").textContent = "refreshed " + new Date().toLocaleTimeString();
  } catch (e) {
    document.getElementById("refreshed").textContent = "refresh failed: " + e.message;
  }
  timer = setTimeout(render, REFRESH_MS);
}
window.addEventListener("hashchange", render);
render();
