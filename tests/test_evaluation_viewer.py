"""The viewer's evaluation pages in headless Chromium, on a real evaluation of the dummy agent: the
page follows it live and draws its charts with the vendored Chart.js (a mid-evaluation screenshot, the
pixels of the canvases read back, the chart's numbers compared with the gateway's), then the final
figures."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from mleredux.embedded import EmbeddedStack
from tests.test_viewer import _call, _wait, browser  # noqa: F401  (browser is a fixture)

COMPETITIONS = ["demo-digits", "demo-breast-cancer"]
SEEDS = 2
MEDALS = ["any_medal", "gold_medal", "silver_medal", "bronze_medal"]
SCORE_DOT = (0x2B, 0x5D, 0x8A)  # the seed scores' colour in evaluations.js
GOLD = (0xD4, 0xAF, 0x37)

#: What one canvas holds: painted pixels, near-black ones (only the error bars are drawn that dark),
#: and pixels of one colour.
_PIXELS = """
const canvas = document.getElementById(arguments[0]);
if (!canvas || !canvas.width || !canvas.height) return null;
const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
const [r, g, b] = arguments[1];
let painted = 0, dark = 0, colour = 0;
for (let i = 0; i < data.length; i += 4) {
  if (data[i + 3] === 0) continue;
  painted += 1;
  if (data[i + 3] > 200 && data[i] < 60 && data[i + 1] < 60 && data[i + 2] < 60) dark += 1;
  const near = Math.abs(data[i] - r) < 16 && Math.abs(data[i + 1] - g) < 16 && Math.abs(data[i + 2] - b) < 16;
  if (data[i + 3] > 200 && near) colour += 1;
}
return {painted, dark, colour, total: canvas.width * canvas.height, errorBars: Number(canvas.dataset.errorBars || 0)};
"""

#: The numbers a Chart instance is drawing.
_MEDAL_DATA = """
const chart = Chart.getChart(document.getElementById("medal-canvas"));
if (!chart) return null;
const datasets = chart.data.datasets.map(d => ({key: d.key, data: d.data, errors: d.errors}));
return {labels: chart.data.labels, datasets};
"""
_SCORE_DATA = """
return [...document.querySelectorAll("#score-chart canvas")].map(canvas => {
  const chart = Chart.getChart(canvas);
  return {id: canvas.id, competition: canvas.dataset.competition,
          datasets: chart ? chart.data.datasets.map(d => ({label: d.label, xs: d.data.map(p => p.x)})) : null};
});
"""


def _expected_medals(evaluation: dict[str, Any]) -> dict[str, Any]:
    groups = evaluation.get("figures", [])
    return {
        "groups": len(groups),
        "data": {k: [pytest.approx(g.get(k, {}).get("mean", 0), abs=1e-9) for g in groups] for k in MEDALS},
        "errors": {k: [pytest.approx(g.get(k, {}).get("standard_error", 0), abs=1e-9) for g in groups] for k in MEDALS},
    }


def _check_medal_chart(driver: Any, evaluation: dict[str, Any]) -> None:
    shown = driver.execute_script(_MEDAL_DATA)
    expected = _expected_medals(evaluation)
    assert shown is not None, "no Chart on the medal canvas"
    assert len(shown["labels"]) == expected["groups"] >= 2  # "all" and the demos' split
    assert [d["key"] for d in shown["datasets"]] == MEDALS
    for dataset in shown["datasets"]:
        assert dataset["data"] == expected["data"][dataset["key"]]
        assert dataset["errors"] == expected["errors"][dataset["key"]]
    pixels = driver.execute_script(_PIXELS, "medal-canvas", list(GOLD))
    assert pixels is not None
    # Axes, grid, labels and legend paint a few per cent of the canvas; a blank one paints nothing.
    assert pixels["painted"] > 0.01 * pixels["total"], pixels
    assert pixels["colour"] > 20, pixels  # the gold legend box (and bars, when there are medals)
    # Our error-bar plugin ran over every bar and drew its whiskers.
    assert pixels["errorBars"] == expected["groups"] * len(MEDALS), pixels
    assert pixels["dark"] > 10 * pixels["errorBars"], pixels


def _check_score_charts(driver: Any, evaluation: dict[str, Any]) -> int:
    """Checks each competition's chart against the evaluation; returns how many seed dots are drawn."""
    charts = driver.execute_script(_SCORE_DATA)
    scores: dict[str, list[float]] = {}
    thresholds: dict[str, dict[str, float]] = {}
    for cell in evaluation.get("runs", []):
        report = cell.get("report")
        if report:
            if report.get("valid_submission"):
                scores.setdefault(cell["competition_id"], []).append(report["score"])
            thresholds[cell["competition_id"]] = {
                name: report[f"{name}_threshold"] for name in ("gold", "silver", "bronze", "median")
            }
    assert sorted(c["competition"] for c in charts) == sorted({c["competition_id"] for c in evaluation["runs"]})
    dots = 0
    for chart in charts:
        datasets = {d["label"]: d["xs"] for d in chart["datasets"]}
        competition = chart["competition"]
        assert sorted(datasets["seed scores"]) == pytest.approx(sorted(scores.get(competition, [])))
        # A competition with no graded run yet has no thresholds to draw.
        assert set(datasets) == {"seed scores", *thresholds.get(competition, {})}, (competition, datasets)
        for name, value in thresholds.get(competition, {}).items():
            assert datasets[name] == [pytest.approx(value)], (competition, name)
        pixels = driver.execute_script(_PIXELS, chart["id"], list(SCORE_DOT))
        assert pixels is not None and pixels["painted"] > 0.01 * pixels["total"], (competition, pixels)
        if datasets["seed scores"]:
            assert pixels["colour"] > 40, (competition, pixels)  # the dots (and the legend's one)
        dots += len(datasets["seed scores"])
    return dots


def test_the_evaluation_page_follows_an_evaluation_live(stack: EmbeddedStack, browser: Any, tmp_path: Path) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By

    token = _call(stack, "POST", "/v1/tokens", stack.admin_token, {"user": "viewer-evals"})["token"]
    base = f"http://{stack.http_address}"
    browser.get(base + "/")
    browser.find_element(By.ID, "login-token").send_keys(token)
    browser.find_element(By.ID, "login-button").click()
    _wait("the runs list", lambda: browser.find_element(By.ID, "runs-view").is_displayed())

    # One run at a time, each sleeping, keeps the evaluation running while the page is looked at.
    body = {
        "agent": "dummy",
        "competition_ids": COMPETITIONS,
        "seeds": SEEDS,
        "concurrency": 1,
        "name": "viewer test",
        "env": {"DUMMY_SLEEP": "4"},
    }
    evaluation_id = _call(stack, "POST", "/v1/evaluations", token, body)["evaluation_id"]
    browser.find_element(By.ID, "nav-evaluations").click()
    row = _wait(
        "the evaluation in the list",
        lambda: browser.find_elements(
            By.CSS_SELECTOR, f'#evaluations-table tr[data-evaluation-id="{evaluation_id}"] a'
        ),
        30,
    )
    row[0].click()
    _wait("the evaluation page", lambda: browser.find_element(By.ID, "evaluation-id").text == evaluation_id, 30)
    assert browser.execute_script("return window.Chart && window.Chart.version") == "4.5.1"

    # Mid-evaluation: at least one run done, the evaluation still running, the charts drawn from it.
    progress = browser.find_element(By.ID, "evaluation-progress")
    _wait("a first run done, shown live", lambda: int(progress.get_attribute("data-done") or 0) >= 1, 120)
    live = _call(stack, "GET", f"/v1/evaluations/{evaluation_id}", token)
    assert live["state"] == "EVALUATION_STATE_RUNNING", "the page caught up only after the evaluation ended"
    assert live["progress"]["done"] < len(COMPETITIONS) * SEEDS
    assert browser.find_element(By.ID, "evaluation-state").get_attribute("data-state") == "EVALUATION_STATE_RUNNING"
    # The charts draw what the gateway says, while it is still running (the page may be one reload behind
    # the gateway for a moment: read both until they agree, then check the canvases).
    total = len(COMPETITIONS) * SEEDS
    deadline = time.monotonic() + 60
    last_error: AssertionError | None = None
    while True:
        live = _call(stack, "GET", f"/v1/evaluations/{evaluation_id}", token)
        assert live["state"] == "EVALUATION_STATE_RUNNING", f"ended before the charts were seen live: {last_error}"
        if int(progress.get_attribute("data-done") or 0) == live["progress"]["done"]:
            try:
                _check_medal_chart(browser, live)
                live_dots = _check_score_charts(browser, live)
                assert 1 <= live_dots < total, live_dots
                break
            except AssertionError as error:
                last_error = error
        assert time.monotonic() < deadline, f"the live charts never matched the evaluation: {last_error}"
        time.sleep(0.2)
    browser.execute_script('document.getElementById("medal-chart").scrollIntoView()')
    shot = tmp_path / "evaluation-live.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000

    # Then the end: the final figures in the same charts, and every run linked.
    _wait(
        "the final state",
        lambda: (
            browser.find_element(By.ID, "evaluation-state").get_attribute("data-state") == "EVALUATION_STATE_SUCCEEDED"
        ),
        240,
    )
    final = _call(stack, "GET", f"/v1/evaluations/{evaluation_id}", token)
    figures = browser.find_element(By.ID, "figures-table").text
    assert "valid submission 100.0 ± 0.0" in figures and "any medal 0.0 ± 0.0" in figures
    _check_medal_chart(browser, final)
    assert _check_score_charts(browser, final) == total
    browser.execute_script('document.getElementById("score-chart").scrollIntoView()')
    browser.save_screenshot(str(tmp_path / "evaluation-final.png"))
    links = browser.find_elements(By.CSS_SELECTOR, "#evaluation-runs a")
    assert len(links) == total
    links[0].click()
    _wait("the run page of the evaluation's run", lambda: browser.find_element(By.ID, "run-view").is_displayed(), 30)
    logs = browser.get_log("browser")
    assert not [entry for entry in logs if entry["level"] == "SEVERE"], logs
