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

async function loadArtifacts(runId) {
  try {
    const answer = await api(`/v1/runs/${encodeURIComponent(runId)}/artifacts`);
    const list = $("artifacts");
    list.replaceChildren();
    for (const artifact of answer.artifacts) {
      const item = el("li");
      const link = el("a", artifact.name);
      // The name is a relative path: keep its '/' and encode each part.
      link.href = `/v1/runs/${encodeURIComponent(runId)}/artifacts/` +
        artifact.name.split("/").map(encodeURIComponent).join("/");
      link.setAttribute("download", artifact.name.split("/").pop());
      item.append(link, el("span", ` ${artifact.size_bytes} bytes`, "muted"));
      list.append(item);
    }
  } catch (error) { showError(error); }
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

function appendRollout(event) {
  const rollout = event.rollout;
  const row = el("tr");
  const payload = el("td");
  payload.append(el("code", JSON.stringify(rollout.payload)));
  row.append(el("td", event.seq), el("td", rollout.step), el("td", rollout.kind), payload);
  $("rollout").querySelector("tbody").append(row);
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
  $("rollout").querySelector("tbody").replaceChildren();
  $("statuses").replaceChildren();
  $("artifacts").replaceChildren();
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
