"""The viewer's evaluation pages in headless Chromium, on a real evaluation of the dummy agent: the
page follows it live (mid-evaluation screenshot with the chart drawn), then shows the final figures."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mleredux.embedded import EmbeddedStack
from tests.test_viewer import _call, _wait, browser  # noqa: F401  (browser is a fixture)


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
        "competition_ids": ["demo-digits"],
        "seeds": 3,
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

    # Mid-evaluation: at least one run done, the evaluation still running, the chart drawn.
    progress = browser.find_element(By.ID, "evaluation-progress")
    _wait("a first run done, shown live", lambda: int(progress.get_attribute("data-done") or 0) >= 1, 120)
    live = _call(stack, "GET", f"/v1/evaluations/{evaluation_id}", token)
    assert live["state"] == "EVALUATION_STATE_RUNNING", "the page caught up only after the evaluation ended"
    assert browser.find_element(By.ID, "evaluation-state").get_attribute("data-state") == "EVALUATION_STATE_RUNNING"
    bars = browser.find_elements(By.CSS_SELECTOR, "#medal-svg rect.bar")
    assert len(bars) == 2 * 4  # the groups "all" and "low", four medal figures each
    assert browser.find_elements(By.CSS_SELECTOR, "#medal-svg line.error-bar")
    dots = browser.find_elements(By.CSS_SELECTOR, "#score-svg circle.score-dot")
    assert len(dots) >= 1 and browser.find_elements(By.CSS_SELECTOR, "#score-svg line.threshold-gold")
    shot = tmp_path / "evaluation-live.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000

    # Then the end: the figures of a finished evaluation and every run linked.
    _wait(
        "the final state",
        lambda: (
            browser.find_element(By.ID, "evaluation-state").get_attribute("data-state") == "EVALUATION_STATE_SUCCEEDED"
        ),
        180,
    )
    figures = browser.find_element(By.ID, "figures-table").text
    assert "valid submission 100.0 ± 0.0" in figures and "any medal 0.0 ± 0.0" in figures
    _wait("three score dots", lambda: len(browser.find_elements(By.CSS_SELECTOR, "#score-svg circle.score-dot")) == 3)
    links = browser.find_elements(By.CSS_SELECTOR, "#evaluation-runs a")
    assert len(links) == 3
    links[0].click()
    _wait("the run page of the evaluation's run", lambda: browser.find_element(By.ID, "run-view").is_displayed(), 30)
    logs = browser.get_log("browser")
    assert not [entry for entry in logs if entry["level"] == "SEVERE"], logs
