"""The run viewer in headless Chromium (Debian's chromium + chromium-driver, driven by Selenium).

A real dummy run on the real embedded stack: the page must show its log lines while the run is still
running, then the grade report once it has ended, and download an artifact with the viewer's cookie.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mleredux.embedded import EmbeddedStack

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"


def _call(stack: EmbeddedStack, method: str, path: str, token: str, body: dict[str, Any] | None = None) -> Any:
    host, port = stack.http_address.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=120)
    try:
        payload = json.dumps(body).encode() if body is not None else b""
        connection.request(method, path, body=payload, headers={"Authorization": f"Bearer {token}"})
        response = connection.getresponse()
        data = response.read()
        assert response.status == 200, data
        return json.loads(data)
    finally:
        connection.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail(
            "headless Chromium is missing: apt-get install chromium chromium-driver (scripts/ensure_browser.sh)"
        )
    from selenium import webdriver

    # Never let Selenium fetch a driver or browser of its own: there is no network.
    os.environ["SE_OFFLINE"] = "true"
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--no-first-run"):
        options.add_argument(argument)
    options.add_argument("--window-size=1280,1000")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # Chromium makes its singleton socket's directory in TMPDIR and leaves it when the driver stops
    # it: a directory of the test's own, removed after, keeps /tmp clean.
    with tempfile.TemporaryDirectory(prefix="mleredux-chromium-") as scratch:
        service = webdriver.ChromeService(executable_path=CHROMEDRIVER, env={**os.environ, "TMPDIR": scratch})
        driver = webdriver.Chrome(options=options, service=service)
        driver.set_script_timeout(60)
        try:
            yield driver
        finally:
            driver.quit()


def _wait(what: str, condition: Any, seconds: float = 120) -> Any:
    from selenium.common.exceptions import StaleElementReferenceException

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            value = condition()
        except StaleElementReferenceException:
            # The page re-renders live; an element read mid-render is read again.
            value = None
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_the_viewer_renders_a_live_run(stack: EmbeddedStack, browser: Any, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    token = _call(stack, "POST", "/v1/tokens", stack.admin_token, {"user": "viewer-user"})["token"]
    base = f"http://{stack.http_address}"
    browser.get(base + "/")
    assert browser.find_element(By.ID, "login-view").is_displayed()
    browser.find_element(By.ID, "login-token").send_keys(token)
    browser.find_element(By.ID, "login-button").click()
    _wait("the runs list", lambda: browser.find_element(By.ID, "runs-view").is_displayed())
    assert "viewer-user" in browser.find_element(By.ID, "who").text

    # Sleeping after its first lines keeps the run RUNNING while the page shows them.
    run = _call(
        stack,
        "POST",
        "/v1/runs",
        token,
        {"competition_id": "demo-digits", "agent": "dummy", "env": {"DUMMY_SLEEP": "8"}},
    )
    run_id = run["run_id"]
    row = _wait(
        "the new run in the list (it refreshes itself)",
        lambda: browser.find_elements(By.CSS_SELECTOR, f'#runs-table tr[data-run-id="{run_id}"] a'),
        30,
    )
    row[0].click()
    _wait("the run page", lambda: browser.find_element(By.ID, "run-id").text == run_id, 30)

    log = browser.find_element(By.ID, "log")
    _wait("the agent's live log lines", lambda: "sleeping 8s" in log.text)
    live_state = _call(stack, "GET", f"/v1/runs/{run_id}", token)["state"]
    assert live_state == "RUN_STATE_RUNNING", "the log was shown only after the run had ended"
    assert "dummy-agent stdout: started" in log.text and "dummy-agent stdout: done" not in log.text
    assert browser.find_element(By.ID, "run-state").get_attribute("data-state") == "RUN_STATE_RUNNING"
    assert not browser.find_elements(By.ID, "report-table")
    browser.save_screenshot(str(tmp_path / "live.png"))

    # Then the report, once the run has ended.
    def report_shown() -> dict[str, str]:
        rows = browser.find_elements(By.CSS_SELECTOR, "#report-table tr")
        return {r.find_element(By.TAG_NAME, "th").text: r.find_element(By.TAG_NAME, "td").text for r in rows}

    shown = _wait("the grade report", report_shown, 120)
    final = _call(stack, "GET", f"/v1/runs/{run_id}", token)
    assert final["state"] == "RUN_STATE_SUCCEEDED", final["message"]
    assert float(shown["score"]) == pytest.approx(final["report"]["score"])
    assert shown["valid_submission"] == "true"
    assert "dummy-agent stdout: done" in log.text
    stderr_lines = _wait(
        "the log's stderr lines", lambda: [e.text for e in log.find_elements(By.CSS_SELECTOR, "span.stderr")], 30
    )
    assert stderr_lines and all(line.startswith("dummy-agent stderr:") for line in stderr_lines)
    rollout = browser.find_element(By.ID, "rollout").text
    assert "plan" in rollout and "copy the sample submission" in rollout
    _wait(
        "the final state",
        lambda: browser.find_element(By.ID, "run-state").get_attribute("data-state") == "RUN_STATE_SUCCEEDED",
        30,
    )

    # Artifact links download with the viewer's cookie (no header), exactly the stored bytes.
    link = _wait(
        "the report.json link",
        lambda: [a for a in browser.find_elements(By.CSS_SELECTOR, "#artifacts a") if a.text == "report.json"],
        30,
    )[0]
    fetched = browser.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "fetch(arguments[0]).then(async r => done([r.status, await r.text()])).catch(e => done([0, String(e)]));",
        link.get_attribute("href"),
    )
    assert fetched[0] == 200, fetched
    assert json.loads(fetched[1])["score"] == pytest.approx(final["report"]["score"])
    browser.save_screenshot(str(tmp_path / "finished.png"))

    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors
