// The run viewer: a runs list and a live run page over the gateway's HTTP API.
// JSON calls send the token as `Authorization: Bearer`; EventSource and download links cannot send
// headers, so the token is also kept in a SameSite=Strict cookie scoped to /v1/ that the gateway
// accepts on exactly those two routes. Everything the service returns is inserted as text, never HTML.
"use strict";

const TOKEN_KEY = "mleredux_token";
const TERMINAL = new Set([
  "RUN_STATE_SUCCEEDED", "RUN_STATE_FAILED", "RUN_STATE_CANCELLED", "RUN_STATE_TIMED_OUT", "RUN_STATE_LOST",
]);
const REPORT_FIELDS = [
  "competition_id", "score", "valid_submission", "submission_exists", "invalid_reason", "any_medal",
  "gold_medal", "silver_medal", "bronze_medal", "above_median", "gold_threshold", "silver_threshold",
  "bronze_threshold", "median_threshold", "is_lower_better", "created_at", "grader_version",
  "submission_sha256", "answers_sha256", "technique_task", "compute_profile",
];

let source = null; // the open EventSource, if any
let runsTimer = null;

const $ = (id) => document.getElementById(id);

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function token() { return sessionStorage.getItem(TOKEN_KEY); }

function setToken(value) {
  if (value) {
    sessionStorage.setItem(TOKEN_KEY, value);
    document.cookie = `${TOKEN_KEY}=${value}; path=/v1/; SameSite=Strict`;
  } else {
    sessionStorage.removeItem(TOKEN_KEY);
    document.cookie = `${TOKEN_KEY}=; path=/v1/; SameSite=Strict; max-age=0`;
  }
}

class ApiError extends Error {
  constructor(status, code, message) { super(message); this.status = status; this.code = code; }
}

async function api(path) {
  const response = await fetch(path, { headers: { Authorization: `Bearer ${token()}` } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, body.code || "", body.message || response.statusText);
  return body;
}

function showError(error) {
  if (error instanceof ApiError && error.status === 401) {
    setToken(null);
    route();
    $("login-error").textContent = error.message;
    return;
  }
  $("error").textContent = error.message || String(error);
}

function show(view) {
  for (const id of ["login-view", "runs-view", "run-view", "evaluations-view", "evaluation-view"]) {
    $(id).hidden = id !== view;
  }
  $("error").textContent = "";
}

function stopLive() {
  if (source) { source.close(); source = null; }
  if (runsTimer) { clearInterval(runsTimer); runsTimer = null; }
  if (window.stopEvaluationLive) window.stopEvaluationLive(); // evaluations.js
}

// -- login -----------------------------------------------------------------------------------------

async function login(event) {
  event.preventDefault();
  const value = $("login-token").value.trim();
  if (!value) return;
  setToken(value);
  try {
    await api("/v1/caller");
    $("login-token").value = "";
    $("login-error").textContent = "";
    route();
  } catch (error) {
    setToken(null);
    $("login-error").textContent = error.message;
  }
}

async function showCaller() {
  try {
    const caller = await api("/v1/caller");
    $("who").textContent = `${caller.user}${caller.admin ? " (admin)" : ""}`;
    $("logout").hidden = false;
  } catch (error) { showError(error); }
}

// -- runs list -------------------------------------------------------------------------------------

function score(run) {
  return run.report && run.report.score != null ? run.report.score : "";
}

async function loadRuns() {
  try {
    const answer = await api("/v1/runs?page_size=100");
    const body = $("runs-table").querySelector("tbody");
    body.replaceChildren();
    for (const run of answer.runs) {
      const row = el("tr");
      row.dataset.runId = run.run_id;
      const link = el("a", run.run_id);
      link.href = `#/runs/${encodeURIComponent(run.run_id)}`;
      const first = el("td");
      first.append(link);
      row.append(first, el("td", run.competition_id), el("td", run.agent),
        el("td", run.state.replace("RUN_STATE_", ""), `state ${run.state}`), el("td", run.owner),
        el("td", run.create_time || ""), el("td", score(run)));
      body.append(row);
    }
    $("runs-empty").hidden = answer.runs.length > 0;
  } catch (error) { showError(error); }
}

// -- one run ---------------------------------------------------------------------------------------

function renderRun(run) {
  $("run-id").textContent = run.run_id;
  const state = $("run-state");
  state.textContent = run.state.replace("RUN_STATE_", "");
  state.className = `state ${run.state}`;
  state.dataset.state = run.state;
  $("run-meta").textContent =
    `${run.competition_id} · agent ${run.agent} (${run.image}) · owner ${run.owner} · created ${run.create_time || ""}`;
  $("run-message").textContent = run.failure_reason && run.failure_reason !== "FAILURE_REASON_UNSPECIFIED"
    ? `${run.failure_reason}: ${run.message}` : run.message;
  if (run.report) renderReport(run.report);
}

// The effective compute profile, as one line: "1 CPUs · 2048 MiB memory · ...".
function profileText(profile) {
  const parts = [`${profile.cpus} CPUs`, `${Math.round(profile.memory_bytes / 2 ** 20)} MiB memory`];
  if (profile.gpus) parts.push(`${profile.gpus} GPUs${profile.gpu_model ? ` (${profile.gpu_model})` : ""}`);
  parts.push(`${profile.time_limit_seconds} s limit`, `${profile.pids_limit} pids`);
  if (profile.disk_bytes) parts.push(`${Math.round(profile.disk_bytes / 2 ** 20)} MiB disk`);
  return parts.join(" · ");
}

function renderReport(report) {
  const table = el("table");
  table.id = "report-table";
  for (const key of REPORT_FIELDS) {
    if (!(key in report)) continue;
    const row = el("tr");
    row.dataset.field = key;
    const value = report[key];
    row.append(el("th", key), el("td", key === "compute_profile" && value ? profileText(value) : value));
    table.append(row);
  }
  $("report").replaceChildren(table);
}

// -- artifacts: images inline, text and code readable with line numbers ------------------------------
// What an agent wrote is hostile. Images go into <img> (an SVG there runs no script); text is read with
// fetch and shown through textContent, never as HTML; the gateway serves every artifact as an attachment
// with `Content-Security-Policy: sandbox`, so one opened on its own cannot script the viewer's origin.

const IMAGE_FILE = /\.(png|jpe?g|gif|webp|svg)$/i;
const TEXT_FILE = /\.(py|txt|log|out|err|json|jsonl|ndjson|csv|tsv|md|rst|sh|ya?ml|toml|cfg|ini|r|jl|ipynb|js|ts|c|h|cc|cpp|hpp|java|go|rs|sql|html?|xml)$/i;
const TABLE_FILE = /\.(csv|tsv)$/i;
// Code is opened at once; logs, tables and data wait for a click (they are often long).
const OPEN_FILE = /\.(py|sh|r|jl|js|ts|c|h|cc|cpp|hpp|java|go|rs|sql|md)$/i;
const PREVIEW_BYTES = 64 * 1024;
const PREVIEW_LINES = 400;
const TABLE_LINES = 50;

let artifactViews = new Map(); // `${runId}|${name}|${size}` -> the item already built, kept across reloads
let artifactsLoading = null; // the listing under way, for artifactsRun
let artifactsRun = null;
let artifactsAgain = false;

function artifactUrl(runId, name) {
  // The name is a relative path: keep its '/' and encode each part.
  return `/v1/runs/${encodeURIComponent(runId)}/artifacts/` + name.split("/").map(encodeURIComponent).join("/");
}

// The first `limit` bytes of a download (the rest is never read): {bytes, text, cut}.
async function readHead(url, limit) {
  const response = await fetch(url, { headers: { Authorization: `Bearer ${token()}` } });
  if (!response.ok) throw new ApiError(response.status, "", `${response.status} ${response.statusText}`);
  const reader = response.body.getReader();
  const chunks = [];
  let total = 0, cut = false;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    total += value.length;
    if (total > limit) { cut = true; await reader.cancel(); break; }
  }
  const bytes = new Uint8Array(Math.min(total, limit));
  let at = 0;
  for (const chunk of chunks) {
    const part = chunk.subarray(0, Math.max(0, Math.min(chunk.length, bytes.length - at)));
    bytes.set(part, at);
    at += part.length;
  }
  return { bytes: bytes.length, text: new TextDecoder("utf-8", { fatal: false }).decode(bytes), cut };
}

// Lines with their numbers, as a table of text cells; `note` says what was left out.
function codeView(text, { maxLines = PREVIEW_LINES, cutBytes = false, totalBytes = null } = {}) {
  let lines = text.split("\n");
  if (lines.length && lines[lines.length - 1] === "") lines.pop();
  if (cutBytes && lines.length > 1) lines.pop(); // the last line read is only part of one
  const shown = lines.slice(0, maxLines);
  const view = el("div", null, "code-view");
  const table = el("table");
  shown.forEach((line, i) => {
    const row = el("tr");
    row.append(el("td", i + 1, "line-number"), el("td", line, "line-text"));
    table.append(row);
  });
  view.append(table);
  if (cutBytes || lines.length > shown.length) {
    const of = totalBytes != null ? ` of ${totalBytes} bytes` : "";
    const note = el("p", `cut: showing the first ${shown.length} lines${of}; download the file for the rest`, "muted cut");
    view.dataset.cut = "true";
    view.append(note);
  }
  view.dataset.lines = String(shown.length);
  return view;
}

async function fillTextPreview(body, url, artifact) {
  const table = TABLE_FILE.test(artifact.name);
  try {
    const head = await readHead(url, PREVIEW_BYTES);
    body.replaceChildren(codeView(head.text, {
      maxLines: table ? TABLE_LINES : PREVIEW_LINES, cutBytes: head.cut, totalBytes: artifact.size_bytes,
    }));
  } catch (error) {
    body.replaceChildren(el("p", `cannot show it: ${error.message}`, "error"));
  }
}

function artifactItem(runId, artifact) {
  const url = artifactUrl(runId, artifact.name);
  const item = el("li");
  item.dataset.name = artifact.name;
  const link = el("a", artifact.name);
  link.href = url;
  link.setAttribute("download", artifact.name.split("/").pop());
  item.append(link, el("span", ` ${artifact.size_bytes} bytes`, "muted"));
  if (IMAGE_FILE.test(artifact.name)) {
    // The cookie carries the token, as for the download link.
    const image = el("img", null, "artifact-image");
    image.alt = artifact.name;
    image.loading = "lazy";
    image.src = url;
    const figure = el("div", null, "artifact-preview");
    figure.append(image);
    item.append(figure);
  } else if (TEXT_FILE.test(artifact.name) && artifact.size_bytes > 0) {
    const details = el("details", null, "artifact-preview");
    const body = el("div", "loading…", "muted");
    details.append(el("summary", TABLE_FILE.test(artifact.name) ? "show the head" : "show"), body);
    let filled = false;
    const fill = () => { if (!filled && details.open) { filled = true; fillTextPreview(body, url, artifact); } };
    details.addEventListener("toggle", fill);
    details.open = OPEN_FILE.test(artifact.name) && artifact.size_bytes <= PREVIEW_BYTES * 4;
    fill();
    item.append(details);
  }
  return item;
}

async function loadArtifacts(runId) {
  // Stored-artifact events come in bursts: one listing at a time, and one more if any came meanwhile.
  if (artifactsLoading && artifactsRun === runId) { artifactsAgain = true; return artifactsLoading; }
  artifactsRun = runId;
  const loading = (async () => {
    try {
      do {
        artifactsAgain = false;
        const answer = await api(`/v1/runs/${encodeURIComponent(runId)}/artifacts`);
        if (artifactsRun !== runId) return; // the page has moved on to another run
        const kept = new Map();
        const items = [];
        for (const artifact of answer.artifacts) {
          const key = `${runId}|${artifact.name}|${artifact.size_bytes}`;
          const item = artifactViews.get(key) || artifactItem(runId, artifact);
          kept.set(key, item);
          items.push(item);
        }
        artifactViews = kept;
        $("artifacts").replaceChildren(...items);
      } while (artifactsAgain);
    } catch (error) { showError(error); } finally { if (artifactsLoading === loading) artifactsLoading = null; }
  })();
  artifactsLoading = loading;
  return loading;
}

function appendLog(event) {
  const log = $("log");
  const line = event.log_line;
  const stream = line.stream === "LOG_STREAM_STDERR" ? "stderr" : "stdout";
  const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
  log.append(el("span", `${line.text}\n`, `${stream}${line.partial ? " partial" : ""}`));
  if (atBottom) log.scrollTop = log.scrollHeight;
  $("log-count").textContent = `${log.childElementCount} lines`;
}

// -- the rollout as a timeline ----------------------------------------------------------------------

// Kinds the agents and the runner write (docs/http_api.md); any other is shown as written, in grey.
const KIND_LABELS = {
  plan: "plan", code: "code", execution: "execution", result: "result", metric: "metric", validation: "validation",
  model_call: "model call", error: "error", warning: "warning",
};

function clip(text, length = 160) {
  const value = String(text);
  return value.length <= length ? value : `${value.slice(0, length - 1)}…`;
}

// One line saying what the event is; the whole payload is in its detail.
function rolloutSummary(kind, payload) {
  const p = payload || {};
  switch (kind) {
    case "code": {
      const lines = typeof p.text === "string" ? p.text.split("\n").filter((l) => l.trim()).length : 0;
      return `${p.language || "code"}${p.file ? ` ${p.file}` : ""}${lines ? `, ${lines} lines` : ""}`;
    }
    case "metric":
      return `${p.name || p.metric || "metric"} = ${p.value !== undefined ? p.value : JSON.stringify(p)}` +
        (p.lower_is_better !== undefined ? (p.lower_is_better ? " (lower is better)" : " (higher is better)") : "");
    case "validation":
      return `${p.valid ? "valid" : "invalid"}${p.message ? `: ${p.message}` : ""}`;
    case "model_call": {
      const tokens = p.input_tokens !== undefined ? `, ${p.input_tokens}+${p.output_tokens || 0} tokens` : "";
      const latency = p.latency_ms !== undefined ? `, ${p.latency_ms} ms` : "";
      return `${p.model || p.endpoint || "model"} ${p.status !== undefined ? p.status : ""}${tokens}${latency}` +
        (p.replayed ? " (replayed)" : "") + (p.error ? `: ${p.error}` : "");
    }
    default: {
      const text = p.text || p.message || p.error;
      return text !== undefined ? String(text) : JSON.stringify(p);
    }
  }
}

function clockTime(time) {
  const match = String(time || "").match(/T(\d\d:\d\d:\d\d)/);
  return match ? match[1] : String(time || "");
}

function appendRollout(event) {
  const rollout = event.rollout;
  const kind = String(rollout.kind || "event");
  const entry = el("li", null, "entry");
  entry.dataset.kind = kind;
  entry.dataset.seq = event.seq;
  const known = Object.prototype.hasOwnProperty.call(KIND_LABELS, kind);
  const badge = el("span", known ? KIND_LABELS[kind] : clip(kind, 24), `badge kind-${known ? kind : "other"}`);
  const head = el("div", null, "entry-head");
  const time = el("time", clockTime(event.time));
  time.dateTime = String(event.time || "");
  head.append(badge, time, el("span", rollout.step ? `step ${rollout.step}` : "", "muted step"),
    el("span", clip(rolloutSummary(kind, rollout.payload)), "summary"));
  const details = el("details");
  details.append(el("summary", "detail"));
  const payload = rollout.payload || {};
  if (kind === "code" && typeof payload.text === "string") details.append(codeView(payload.text));
  details.append(el("pre", JSON.stringify(payload, null, 2), "payload"));
  entry.append(head, details);
  $("rollout").append(entry);
}

function appendStatus(event, runId) {
  const change = event.status_change;
  const reason = change.reason && change.reason !== "FAILURE_REASON_UNSPECIFIED" ? ` (${change.reason})` : "";
  $("statuses").append(el("li", `${event.time} ${change.state.replace("RUN_STATE_", "")}${reason}: ${change.message}`));
  const state = $("run-state");
  state.textContent = change.state.replace("RUN_STATE_", "");
  state.className = `state ${change.state}`;
  state.dataset.state = change.state;
  if (TERMINAL.has(change.state)) loadArtifacts(runId);
}

async function showRun(runId) {
  show("run-view");
  $("log").replaceChildren();
  $("log-count").textContent = "";
  $("rollout").replaceChildren();
  $("statuses").replaceChildren();
  $("artifacts").replaceChildren();
  artifactViews = new Map();
  $("report").replaceChildren(el("p", "Not graded yet.", "muted"));
  try {
    renderRun(await api(`/v1/runs/${encodeURIComponent(runId)}`));
  } catch (error) { showError(error); return; }
  loadArtifacts(runId);
  // Replays the whole log, then follows it; on a dropped connection EventSource reconnects with
  // Last-Event-ID and the gateway resumes after the last event shown.
  source = new EventSource(`/v1/runs/${encodeURIComponent(runId)}/events?from_seq=1`);
  const on = (name, handler) => source.addEventListener(name, (message) => handler(JSON.parse(message.data)));
  on("log_line", appendLog);
  on("rollout", appendRollout);
  on("status_change", (event) => appendStatus(event, runId));
  on("artifact_stored", () => loadArtifacts(runId));
  on("report", (event) => renderReport(event.report));
  source.onerror = () => {
    if (source && source.readyState === EventSource.CLOSED) {
      $("error").textContent = "the event stream was refused; reload the page to try again";
    }
  };
  on("stream_error", (error) => { $("error").textContent = `${error.code}: ${error.message}`; });
  on("end", async () => {
    stopLive();
    try { renderRun(await api(`/v1/runs/${encodeURIComponent(runId)}`)); } catch (error) { showError(error); }
    loadArtifacts(runId);
  });
}

// -- routing ---------------------------------------------------------------------------------------

function route() {
  stopLive();
  if (!token()) {
    $("who").textContent = "";
    $("logout").hidden = true;
    show("login-view");
    return;
  }
  setToken(token()); // the cookie may have gone while the tab kept its sessionStorage
  showCaller();
  const match = location.hash.match(/^#\/runs\/(.+)$/);
  if (location.hash.startsWith("#/evaluations")) {
    routeEvaluations(location.hash); // evaluations.js
  } else if (match) {
    showRun(decodeURIComponent(match[1]));
  } else {
    show("runs-view");
    loadRuns();
    runsTimer = setInterval(loadRuns, 5000);
  }
}

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", login);
  $("logout").addEventListener("click", () => { setToken(null); route(); });
  route();
});
