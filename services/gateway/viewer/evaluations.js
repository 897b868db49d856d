// The viewer's evaluation pages: a list, and a live page with the aggregate table, a chart of medal rates
// by split with error bars, and each competition's scores against its medal thresholds. Uses viewer.js's
// helpers ($, el, api, show, showError); the charts are SVG drawn here, no library. Text only, never HTML.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const EVAL_FIGURES = [
  ["any_medal", "any medal"], ["gold_medal", "gold"], ["silver_medal", "silver"], ["bronze_medal", "bronze"],
  ["above_median", "above median"], ["valid_submission", "valid submission"], ["submission_exists", "submission exists"],
];
const MEDAL_FIGURES = EVAL_FIGURES.slice(0, 4);

let evaluationSource = null;
let evaluationTimer = null;
let evaluationReload = null;

window.stopEvaluationLive = () => {
  if (evaluationSource) { evaluationSource.close(); evaluationSource = null; }
  if (evaluationTimer) { clearInterval(evaluationTimer); evaluationTimer = null; }
  if (evaluationReload) { clearTimeout(evaluationReload); evaluationReload = null; }
};

function svg(tag, attributes, text) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = String(text);
  return node;
}

function percent(figure) {
  const f = figure || {};
  return `${(f.mean || 0).toFixed(1)} ± ${(f.standard_error || 0).toFixed(1)}`;
}

function evaluationStateName(state) { return String(state || "").replace("EVALUATION_STATE_", ""); }

async function loadEvaluations() {
  try {
    const answer = await api("/v1/evaluations?page_size=100");
    const body = $("evaluations-table").querySelector("tbody");
    body.replaceChildren();
    for (const e of answer.evaluations || []) {
      const row = el("tr");
      row.dataset.evaluationId = e.evaluation_id;
      const link = el("a", e.evaluation_id);
      link.href = `#/evaluations/${encodeURIComponent(e.evaluation_id)}`;
      const first = el("td"); first.append(link); row.append(first);
      const overall = (e.figures || []).find((g) => g.group === "all");
      const progress = e.progress || {};
      for (const value of [e.name, e.agent, evaluationStateName(e.state), `${progress.done || 0}/${progress.total || 0}`,
        overall ? percent(overall.any_medal) : "-", e.create_time]) row.append(el("td", value));
      body.append(row);
    }
    $("evaluations-empty").hidden = (answer.evaluations || []).length > 0;
  } catch (error) { showError(error); }
}

function renderFigures(evaluation) {
  const groups = evaluation.figures || [];
  const table = el("table"); table.id = "figures-table";
  const head = el("tr"); head.append(el("th", "figure"));
  for (const g of groups) head.append(el("th", `${g.group} (${g.competitions} × ${g.seeds} seeds)`));
  table.append(head);
  for (const [key, label] of EVAL_FIGURES) {
    const row = el("tr"); row.append(el("th", label));
    for (const g of groups) row.append(el("td", percent(g[key])));
    table.append(row);
  }
  $("evaluation-figures").replaceChildren(table);
}

// Grouped bars: for each split, any/gold/silver/bronze medal % with mean ± 1.96 SE error bars.
function renderMedalChart(evaluation) {
  const groups = evaluation.figures || [];
  const width = 760, height = 260, left = 40, bottom = 30, top = 10;
  const chart = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img", id: "medal-svg" });
  const plotHeight = height - bottom - top;
  const y = (value) => top + plotHeight * (1 - Math.max(0, Math.min(100, value)) / 100);
  for (const tick of [0, 25, 50, 75, 100]) {
    chart.append(svg("line", { x1: left, x2: width - 10, y1: y(tick), y2: y(tick), stroke: "#eee" }));
    chart.append(svg("text", { x: 4, y: y(tick) + 4 }, `${tick}%`));
  }
  const slot = (width - left - 10) / Math.max(groups.length, 1);
  const bar = Math.min(28, (slot - 20) / MEDAL_FIGURES.length);
  groups.forEach((g, i) => {
    const x0 = left + i * slot + (slot - bar * MEDAL_FIGURES.length) / 2;
    MEDAL_FIGURES.forEach(([key], j) => {
      const figure = g[key] || {};
      const mean = figure.mean || 0;
      const x = x0 + j * bar;
      const rect = svg("rect", { x, y: y(mean), width: bar - 3, height: y(0) - y(mean), class: `bar bar-${key}` });
      rect.append(svg("title", {}, `${g.group} ${key}: ${percent(figure)}`));
      chart.append(rect);
      const low = figure.ci_lower || 0, high = figure.ci_upper || 0;
      const cx = x + (bar - 3) / 2;
      chart.append(svg("line", { x1: cx, x2: cx, y1: y(low), y2: y(high), class: "error-bar" }));
      for (const end of [low, high]) {
        chart.append(svg("line", { x1: cx - 4, x2: cx + 4, y1: y(end), y2: y(end), class: "error-bar" }));
      }
    });
    chart.append(svg("text", { x: left + i * slot + slot / 2 - 20, y: height - 10 }, `${g.group} (${g.competitions})`));
  });
  const legend = el("p", "bars: any medal, gold, silver, bronze; whiskers: 95% interval (mean ± 1.96 SE)", "muted");
  $("medal-chart").replaceChildren(chart, legend);
}

// One row per competition: its seeds' scores as dots on a line, with the thresholds as ticks.
function renderScoreChart(evaluation) {
  const byCompetition = new Map();
  for (const cell of evaluation.runs || []) {
    if (!byCompetition.has(cell.competition_id)) byCompetition.set(cell.competition_id, { scores: [], report: null });
    const entry = byCompetition.get(cell.competition_id);
    if (cell.report) {
      entry.report = entry.report || cell.report;
      if (cell.report.score !== undefined && cell.report.valid_submission) entry.scores.push(cell.report.score);
    }
  }
  const rowHeight = 34, left = 190, width = 760;
  const height = Math.max(1, byCompetition.size) * rowHeight + 10;
  const chart = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img", id: "score-svg" });
  let i = 0;
  for (const [competition, entry] of byCompetition) {
    const report = entry.report || {};
    const marks = [["gold", report.gold_threshold], ["silver", report.silver_threshold],
      ["bronze", report.bronze_threshold], ["median", report.median_threshold]].filter(([, v]) => v !== undefined);
    const values = [...entry.scores, ...marks.map(([, v]) => v)];
    const yMid = 10 + i * rowHeight + rowHeight / 2;
    chart.append(svg("text", { x: 4, y: yMid + 4 }, competition));
    if (values.length) {
      let low = Math.min(...values), high = Math.max(...values);
      if (high === low) { low -= 1; high += 1; }
      const pad = (high - low) * 0.05;
      const x = (v) => left + (width - left - 20) * (v - low + pad) / (high - low + 2 * pad);
      chart.append(svg("line", { x1: left, x2: width - 20, y1: yMid, y2: yMid, stroke: "#ccc" }));
      for (const [name, value] of marks) {
        const tick = svg("line", { x1: x(value), x2: x(value), y1: yMid - 10, y2: yMid + 10, class: `threshold threshold-${name}`, "stroke-width": 2 });
        tick.append(svg("title", {}, `${name} threshold ${value}`));
        chart.append(tick);
      }
      for (const score of entry.scores) {
        const dot = svg("circle", { cx: x(score), cy: yMid, r: 4, class: "score-dot" });
        dot.append(svg("title", {}, `score ${score}`));
        chart.append(dot);
      }
    }
    i += 1;
  }
  const legend = el("p", "dots: each seed's score; ticks: gold, silver, bronze thresholds and the median (dashed)", "muted");
  $("score-chart").replaceChildren(chart, legend);
}

function renderEvaluationRuns(evaluation) {
  const body = $("evaluation-runs").querySelector("tbody");
  body.replaceChildren();
  for (const cell of evaluation.runs || []) {
    const row = el("tr");
    row.append(el("td", cell.competition_id), el("td", cell.seed));
    const runCell = el("td");
    if (cell.run_id) {
      const link = el("a", cell.run_id);
      link.href = `#/runs/${encodeURIComponent(cell.run_id)}`;
      runCell.append(link);
    }
    row.append(runCell, el("td", cell.attempts || 0));
    let state = String(cell.state || "").replace("RUN_STATE_", "") || "WAITING";
    if (cell.system_failure) state += " (system failure)";
    const report = cell.report || {};
    const medal = report.gold_medal ? "gold" : report.silver_medal ? "silver" : report.bronze_medal ? "bronze" : "";
    row.append(el("td", state), el("td", report.score !== undefined ? report.score : "-"), el("td", medal));
    body.append(row);
  }
}

async function loadEvaluation(evaluationId) {
  try {
    const e = await api(`/v1/evaluations/${encodeURIComponent(evaluationId)}`);
    $("evaluation-id").textContent = e.evaluation_id;
    const state = $("evaluation-state");
    state.textContent = evaluationStateName(e.state);
    state.className = `state ${e.state}`;
    state.dataset.state = e.state;
    const where = e.split ? `split ${e.split}` : `${(e.competition_ids || []).length} competitions`;
    $("evaluation-meta").textContent =
      `${e.name ? e.name + ": " : ""}${e.agent} on ${where} × ${e.seeds} seeds, concurrency ${e.concurrency}. ${e.message || ""}`;
    const p = e.progress || {};
    const progress = $("evaluation-progress");
    progress.textContent = `${p.done || 0}/${p.total || 0} done, ${p.running || 0} running, ${p.queued || 0} queued; ` +
      `medals ${p.medals || 0}; ${p.agent_failures || 0} agent failures, ${p.system_failures || 0} system failures, ` +
      `${p.retries || 0} retries`;
    progress.dataset.done = p.done || 0;
    renderFigures(e);
    renderMedalChart(e);
    renderScoreChart(e);
    renderEvaluationRuns(e);
    return e;
  } catch (error) { showError(error); return null; }
}

async function showEvaluation(evaluationId) {
  show("evaluation-view");
  const e = await loadEvaluation(evaluationId);
  if (!e || e.state !== "EVALUATION_STATE_RUNNING") return;
  // Each progress event schedules one reload (at most one a second): the page follows the runs live.
  evaluationSource = new EventSource(`/v1/evaluations/${encodeURIComponent(evaluationId)}/events?from_seq=${Number(e.last_seq || 0) + 1}`);
  const reload = () => {
    if (evaluationReload) return;
    evaluationReload = setTimeout(() => { evaluationReload = null; loadEvaluation(evaluationId); }, 1000);
  };
  evaluationSource.addEventListener("progress", reload);
  evaluationSource.addEventListener("end", () => { window.stopEvaluationLive(); loadEvaluation(evaluationId); });
}

function routeEvaluations(hash) {
  const match = hash.match(/^#\/evaluations\/(.+)$/);
  if (match) {
    showEvaluation(decodeURIComponent(match[1]));
  } else {
    show("evaluations-view");
    loadEvaluations();
    evaluationTimer = setInterval(loadEvaluations, 5000);
  }
}
