// The viewer's evaluation pages: a list, and a live page with the aggregate table, a chart of medal rates
// by split with error bars, and each competition's scores against its medal thresholds. Uses viewer.js's
// helpers ($, el, api, show, showError) and Chart.js (vendored: viewer/vendor/, `window.Chart`), with an
// error-bar plugin of our own. Text only, never HTML.
"use strict";

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

// -- charts (Chart.js, vendored in viewer/vendor/) ----------------------------------------------------

const MEDAL_COLOURS = { any_medal: "#6a8caf", gold_medal: "#d4af37", silver_medal: "#a7a7ad", bronze_medal: "#b87333" };
const THRESHOLDS = [
  ["gold", "gold_threshold", "#d4af37"], ["silver", "silver_threshold", "#8e8e96"],
  ["bronze", "bronze_threshold", "#b87333"], ["median", "median_threshold", "#555555"],
];
let medalChart = null;
let scoreCharts = new Map(); // competition id -> its Chart

// Our own plugin (Chart.js has no error bars): for a bar dataset with `errors: [se, ...]`, a whisker from
// mean - se to mean + se over each bar, with caps, clamped to the axis. It counts what it drew on the
// canvas (`data-error-bars`), so a test can tell a chart drawn from one that is not.
const errorBarsPlugin = {
  id: "mleErrorBars",
  afterDatasetsDraw(chart) {
    const { ctx } = chart;
    const scale = chart.scales.y;
    let drawn = 0;
    ctx.save();
    ctx.strokeStyle = "#222";
    ctx.lineWidth = 1.5;
    chart.data.datasets.forEach((dataset, d) => {
      if (!dataset.errors || !chart.isDatasetVisible(d)) return;
      chart.getDatasetMeta(d).data.forEach((bar, i) => {
        const mean = Number(dataset.data[i]) || 0, error = Number(dataset.errors[i]) || 0;
        const clamp = (v) => Math.max(scale.min, Math.min(scale.max, v));
        const top = scale.getPixelForValue(clamp(mean + error)), bottom = scale.getPixelForValue(clamp(mean - error));
        const cap = Math.min(6, bar.width / 3);
        ctx.beginPath();
        ctx.moveTo(bar.x, top); ctx.lineTo(bar.x, bottom);
        ctx.moveTo(bar.x - cap, top); ctx.lineTo(bar.x + cap, top);
        ctx.moveTo(bar.x - cap, bottom); ctx.lineTo(bar.x + cap, bottom);
        ctx.stroke();
        drawn += 1;
      });
    });
    ctx.restore();
    chart.canvas.dataset.errorBars = String(drawn);
  },
};

function chartsAvailable() {
  if (window.Chart) return true;
  $("error").textContent = "the chart library (viewer/vendor/chart.umd.min.js) did not load";
  return false;
}

function destroyCharts() {
  if (medalChart) { medalChart.destroy(); medalChart = null; }
  for (const chart of scoreCharts.values()) chart.destroy();
  scoreCharts = new Map();
  $("score-chart").replaceChildren();
}

// Grouped bars: for each split, any/gold/silver/bronze medal % (mean across seeds) ± one standard error.
function renderMedalChart(evaluation) {
  if (!chartsAvailable()) return;
  const groups = evaluation.figures || [];
  const labels = groups.map((g) => `${g.group} (${g.competitions} × ${g.seeds})`);
  const datasets = MEDAL_FIGURES.map(([key, label]) => ({
    label,
    key,
    data: groups.map((g) => (g[key] || {}).mean || 0),
    errors: groups.map((g) => (g[key] || {}).standard_error || 0),
    backgroundColor: MEDAL_COLOURS[key],
  }));
  if (medalChart) {
    // Live: the same chart, new numbers.
    medalChart.data.labels = labels;
    medalChart.data.datasets.forEach((dataset, i) => Object.assign(dataset, datasets[i]));
    medalChart.update("none");
    return;
  }
  medalChart = new Chart($("medal-canvas"), {
    type: "bar",
    data: { labels, datasets },
    plugins: [errorBarsPlugin],
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      scales: {
        y: { min: 0, max: 100, title: { display: true, text: "% of runs" }, ticks: { callback: (v) => `${v}%` } },
        x: { title: { display: true, text: "complexity split (competitions × seeds)" } },
      },
      plugins: {
        tooltip: {
          callbacks: {
            label: (item) => {
              const dataset = item.dataset;
              return `${dataset.label}: ${Number(dataset.data[item.dataIndex]).toFixed(1)} ± ` +
                `${Number(dataset.errors[item.dataIndex]).toFixed(1)}%`;
            },
          },
        },
      },
    },
  });
}

// Per competition: what its seeds scored, as dots on the score axis, against the thresholds of its
// leaderboard (every report carries them). One small chart each: competitions' scores share no scale.
function competitionScores(evaluation) {
  const byCompetition = new Map();
  for (const cell of evaluation.runs || []) {
    if (!byCompetition.has(cell.competition_id)) byCompetition.set(cell.competition_id, { scores: [], report: null });
    const entry = byCompetition.get(cell.competition_id);
    if (cell.report) {
      entry.report = entry.report || cell.report;
      if (cell.report.score !== undefined && cell.report.valid_submission) {
        entry.scores.push({ x: cell.report.score, y: 0, seed: cell.seed });
      }
    }
  }
  return byCompetition;
}

function scoreDatasets(entry) {
  const report = entry.report || {};
  const datasets = [{
    label: "seed scores", data: entry.scores, backgroundColor: "#2b5d8a", borderColor: "#2b5d8a",
    pointRadius: 5, pointHoverRadius: 7,
  }];
  for (const [name, field, colour] of THRESHOLDS) {
    if (report[field] === undefined || report[field] === null) continue;
    datasets.push({
      label: name, data: [{ x: report[field], y: 0 }], borderColor: colour, backgroundColor: colour,
      pointStyle: "line", rotation: 90, pointRadius: 16, pointHoverRadius: 18, borderWidth: 3,
      pointBorderWidth: 3, borderDash: name === "median" ? [3, 2] : undefined,
    });
  }
  return datasets;
}

function renderScoreChart(evaluation) {
  if (!chartsAvailable()) return;
  const container = $("score-chart");
  for (const [competition, entry] of competitionScores(evaluation)) {
    const datasets = scoreDatasets(entry);
    const lowerIsBetter = entry.report && entry.report.is_lower_better;
    const heading = `${competition}${entry.report ? "" : " (no graded run yet)"}`;
    const chart = scoreCharts.get(competition);
    if (chart) {
      chart.canvas.closest(".score-row").querySelector("h3").textContent = heading;
      chart.data.datasets = datasets;
      chart.options.scales.x.title.text = `score${lowerIsBetter ? " (lower is better)" : ""}`;
      chart.update("none");
      continue;
    }
    const row = el("div", null, "score-row");
    row.dataset.competition = competition;
    const canvas = el("canvas");
    canvas.id = `score-canvas-${scoreCharts.size}`;
    canvas.dataset.competition = competition;
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", `${competition}: scores against the medal thresholds`);
    const frame = el("div", null, "chart score");
    frame.append(canvas);
    row.append(el("h3", heading), frame);
    container.append(row);
    scoreCharts.set(competition, new Chart(canvas, {
      type: "scatter",
      data: { datasets },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        scales: {
          y: { display: false, min: -1, max: 1 },
          x: { type: "linear", grace: "5%", title: { display: true, text: `score${lowerIsBetter ? " (lower is better)" : ""}` } },
        },
        plugins: {
          legend: { position: "right", labels: { usePointStyle: true } },
          tooltip: {
            callbacks: {
              label: (item) => (item.datasetIndex === 0
                ? `seed ${item.raw.seed}: ${item.raw.x}` : `${item.dataset.label} threshold: ${item.raw.x}`),
            },
          },
        },
      },
    }));
  }
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
  destroyCharts();
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
