"""The run page in headless Chromium shows what an agent left the way a person reads it: its rollout as
a timeline of typed entries (live, while the run is still going), the images it wrote inline, its code
and text files with line numbers (bounded, saying so when cut), and nothing it wrote ever runs as script
or markup in the viewer's origin (the dummy agent's `DUMMY_ARTIFACTS` writes a hostile SVG, an HTML page
and markup in a rollout payload)."""

from __future__ import annotations

import hashlib
import http.client
import json
import re
from pathlib import Path
from typing import Any

from mleredux.embedded import EmbeddedStack
from tests.test_viewer import _call, _wait, browser  # noqa: F401  (browser is a fixture)

VENDOR = Path(__file__).resolve().parents[1] / "services" / "gateway" / "viewer" / "vendor"
#: The lines of code/train.py as the dummy agent writes it.
TRAIN_PY_LINES = 12


def _download_headers(stack: EmbeddedStack, token: str, run_id: str, name: str) -> dict[str, str]:
    host, port = stack.http_address.rsplit(":", 1)
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        connection.request("GET", f"/v1/runs/{run_id}/artifacts/{name}", headers={"Authorization": f"Bearer {token}"})
        response = connection.getresponse()
        response.read()
        assert response.status == 200, (name, response.status)
        return {k.lower(): v for k, v in response.getheaders()}
    finally:
        connection.close()


def test_the_run_page_shows_a_timeline_images_and_code(stack: EmbeddedStack, browser: Any, tmp_path: Path) -> None:  # noqa: F811
    from selenium.webdriver.common.by import By

    token = _call(stack, "POST", "/v1/tokens", stack.admin_token, {"user": "viewer-artifacts"})["token"]
    base = f"http://{stack.http_address}"
    browser.get(base + "/")
    browser.find_element(By.ID, "login-token").send_keys(token)
    browser.find_element(By.ID, "login-button").click()
    _wait("the runs list", lambda: browser.find_element(By.ID, "runs-view").is_displayed())
    title = browser.title

    run = _call(
        stack,
        "POST",
        "/v1/runs",
        token,
        {"competition_id": "demo-digits", "agent": "dummy", "env": {"DUMMY_ARTIFACTS": "1", "DUMMY_SLEEP": "6"}},
    )
    run_id = run["run_id"]
    browser.get(f"{base}/#/runs/{run_id}")
    _wait("the run page", lambda: browser.find_element(By.ID, "run-id").text == run_id, 30)

    # The timeline, live: one entry per rollout event, each with its kind, time and summary. The agent's
    # own events keep its order; the runner's validation event may come before the file's lines are read.
    def agent_entries() -> list[Any]:
        entries = browser.find_elements(By.CSS_SELECTOR, "#rollout li.entry")
        return [e for e in entries if e.get_attribute("data-kind") != "validation"]

    def kinds() -> list[str]:
        return [e.get_attribute("data-kind") for e in agent_entries()]

    _wait("the timeline's plan, code, result and metric", lambda: kinds()[:4] == ["plan", "code", "result", "metric"])
    assert _call(stack, "GET", f"/v1/runs/{run_id}", token)["state"] == "RUN_STATE_RUNNING"
    _wait("the validation entry", lambda: browser.find_elements(By.CSS_SELECTOR, '#rollout li[data-kind="validation"]'))
    validation = browser.find_element(By.CSS_SELECTOR, '#rollout li[data-kind="validation"] .summary').text
    assert validation.startswith("valid: submission is valid")
    entries = agent_entries()
    badges = [e.find_element(By.CSS_SELECTOR, ".badge").text for e in entries[:4]]
    assert badges == ["plan", "code", "result", "metric"]
    for entry in entries[:4]:
        assert re.fullmatch(r"\d\d:\d\d:\d\d", entry.find_element(By.TAG_NAME, "time").text)
    summaries = [e.find_element(By.CSS_SELECTOR, ".summary").text for e in entries[:4]]
    assert summaries[0] == "copy the sample submission"
    assert summaries[1] == "python train.py, 3 lines"
    assert summaries[3] == "accuracy = 0.5 (higher is better)"
    # Markup in a payload is text: shown as written, never an element.
    assert '<img src=x onerror="top.pwned=true">' in summaries[2]
    assert not browser.find_elements(By.CSS_SELECTOR, "#rollout img")
    # The detail is folded until asked for; a code entry's detail is its code with line numbers.
    code_entry = entries[1]
    assert not code_entry.find_element(By.CSS_SELECTOR, "pre.payload").is_displayed()
    code_entry.find_element(By.TAG_NAME, "summary").click()
    numbers = [n.text for n in code_entry.find_elements(By.CSS_SELECTOR, ".code-view td.line-number")]
    assert numbers == ["1", "2", "3"]
    assert code_entry.find_element(By.CSS_SELECTOR, "pre.payload").is_displayed()
    browser.save_screenshot(str(tmp_path / "timeline-live.png"))

    # Once the run has ended its files are listed; the figure is drawn inline, from the download URL.
    _wait(
        "the final state",
        lambda: browser.find_element(By.ID, "run-state").get_attribute("data-state") == "RUN_STATE_SUCCEEDED",
        120,
    )

    def item(name: str) -> Any:
        found = browser.find_elements(By.CSS_SELECTOR, f'#artifacts li[data-name="{name}"]')
        return found[0] if found else None

    # Images load lazily: bring the figure to the screen, as a reader scrolling to it does.
    browser.execute_script(
        "arguments[0].scrollIntoView()", _wait("the figure listed", lambda: item("logs/plot.png"), 60)
    )
    size = _wait(
        "the figure loaded",
        lambda: browser.execute_script(
            "const i = document.querySelector('#artifacts li[data-name=\"logs/plot.png\"] img');"
            "return i && i.complete && i.naturalWidth ? [i.naturalWidth, i.naturalHeight] : null;"
        ),
        30,
    )
    assert size == [48, 32]
    image = item("logs/plot.png").find_element(By.TAG_NAME, "img")
    assert image.get_attribute("src").endswith(f"/v1/runs/{run_id}/artifacts/logs/plot.png")

    # Code opens at once, every line numbered.
    def lines(name: str) -> list[tuple[str, str]]:
        found = item(name)
        if found is None:
            return []
        rows = found.find_elements(By.CSS_SELECTOR, ".code-view tr")
        return [
            (r.find_element(By.CSS_SELECTOR, ".line-number").text, r.find_element(By.CSS_SELECTOR, ".line-text").text)
            for r in rows
        ]

    train = _wait("code/train.py shown", lambda: lines("code/train.py"), 30)
    assert [n for n, _ in train] == [str(i) for i in range(1, TRAIN_PY_LINES + 1)]
    assert train[0][1] == '"""The dummy agent\'s pretend training script (it never runs)."""'
    assert ("3", "import pandas as pd") in train

    # A long log waits for a click, then shows its head and says it was cut.
    log = item("logs/train.log")
    assert not log.find_elements(By.CSS_SELECTOR, ".code-view")
    log.find_element(By.TAG_NAME, "summary").click()
    shown = _wait("the log's head", lambda: lines("logs/train.log"), 30)
    assert len(shown) == 400 and shown[0] == ("1", "step 1") and shown[-1] == ("400", "step 400")
    assert "cut: showing the first 400 lines" in item("logs/train.log").find_element(By.CSS_SELECTOR, "p.cut").text
    table = item("logs/metrics.csv")
    table.find_element(By.TAG_NAME, "summary").click()
    assert _wait("the CSV's head", lambda: lines("logs/metrics.csv"), 30)[0] == ("1", "epoch,loss")
    assert not item("logs/metrics.csv").find_elements(By.CSS_SELECTOR, "p.cut")

    # Hostile files stay inert: the SVG is an <img> (its script and onload never run), the HTML page is
    # its source as text.
    browser.execute_script("arguments[0].scrollIntoView()", item("logs/hostile.svg"))
    svg = _wait(
        "the hostile SVG drawn as an image",
        lambda: browser.execute_script(
            "const i = document.querySelector('#artifacts li[data-name=\"logs/hostile.svg\"] img');"
            "return i && i.complete && i.naturalWidth ? i.naturalWidth : null;"
        ),
        30,
    )
    assert svg == 40
    item("logs/hostile.html").find_element(By.TAG_NAME, "summary").click()
    page = _wait("the HTML page's source", lambda: lines("logs/hostile.html"), 30)
    assert page[0][1].startswith("<!doctype html><title>hostile</title><script>")
    assert not browser.find_elements(By.CSS_SELECTOR, "#artifacts script, #artifacts iframe, #artifacts svg")
    assert browser.title == title != "pwned"
    assert browser.execute_script("return [window.pwned, window.stolen]") == [None, None]
    browser.save_screenshot(str(tmp_path / "artifacts.png"))

    # Opened on its own, an artifact is a download in a sandbox: no script of it runs in this origin.
    for name, content_type in (("logs/hostile.svg", "image/svg+xml"), ("logs/hostile.html", "text/html")):
        headers = _download_headers(stack, token, run_id, name)
        assert headers["content-type"].startswith(content_type)
        assert headers["content-disposition"].startswith("attachment;")
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["content-security-policy"].split(";")[0] == "sandbox"
        assert "default-src 'none'" in headers["content-security-policy"]

    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, errors


def test_the_gateway_serves_the_vendored_library_as_it_was_recorded(stack: EmbeddedStack) -> None:
    record = json.loads((VENDOR / "vendor.json").read_text())["chart.umd.min.js"]
    host, port = stack.http_address.rsplit(":", 1)

    def get(path: str) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection(host, int(port), timeout=60)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            connection.close()

    status, headers, body = get("/viewer/vendor/chart.umd.min.js")
    assert status == 200 and hashlib.sha256(body).hexdigest() == record["sha256"]
    assert "javascript" in headers["content-type"]
    assert headers["content-security-policy"].startswith("default-src 'self'")
    assert headers["x-content-type-options"] == "nosniff"
    for path in ("/viewer/vendor/missing.js", "/viewer/vendor/..%2Fviewer.js", "/viewer/vendor/.hidden"):
        assert get(path)[0] == 404, path
