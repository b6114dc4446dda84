"""Headless Debian Chromium driven by Selenium, and `rorunner dashboard` as a subprocess.

Nothing is downloaded: the browser and its driver are /usr/bin/chromium and
/usr/bin/chromedriver (`make chromium` installs them). Pages load over loopback only.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.common.exceptions import JavascriptException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.actions.action_builder import ActionBuilder
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webelement import WebElement

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
    "--window-size=1440,1000",
)
REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts" / "dashboard"
DOC_IMAGES = REPO / "docs" / "img"
# Set to 1 (make doc-images) to refresh the README's screenshots from the lab run test.
UPDATE_DOC_IMAGES = os.environ.get("RORUNNER_UPDATE_DOC_IMAGES") == "1"
# Interfaces appearing or vanishing on this machine (another test's lab namespaces) make
# Chromium abort loads with this error; such a load is repeated, anything else fails.
NETWORK_CHANGED = "ERR_NETWORK_CHANGED"
LOAD_ATTEMPTS = 3
WAIT = 45.0  # seconds: generous, for a loaded 2-core machine


class BrowserError(AssertionError):
    """A page did not show what the test waited for."""


def missing_browser() -> str:
    """Why the browser tests cannot run here ('' when they can)."""
    absent = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    return f"{', '.join(absent)} missing: run `make chromium`" if absent else ""


class Browser:
    """One headless Chromium for the session, with waits that say what they waited for."""

    def __init__(self) -> None:
        self.profile = tempfile.mkdtemp(prefix="rorunner-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in (*FLAGS, f"--user-data-dir={self.profile}"):
            options.add_argument(flag)
        # performance: the network events, so a test can read every response's body
        options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
        self.driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
        self.driver.set_page_load_timeout(WAIT)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def quit(self) -> None:
        """Close the browser and drop its profile."""
        try:
            self.driver.quit()
        finally:
            shutil.rmtree(self.profile, ignore_errors=True)

    def open(self, url: str, ready: str) -> float:
        """Load `url` until CSS `ready` shows, with a clean console; seconds it took."""
        for attempt in range(1, LOAD_ATTEMPTS + 1):
            self.console()  # drop what earlier pages logged
            self.driver.get_log("performance")
            began = time.monotonic()
            self.driver.get(url)
            shown = self._wait_quietly(ready)
            took = time.monotonic() - began
            errors = self.console_errors()
            if any(NETWORK_CHANGED in e for e in errors) and attempt < LOAD_ATTEMPTS:
                continue
            if not shown:
                raise BrowserError(f"{url}: {ready!r} did not appear in {WAIT:.0f}s; {errors}")
            assert errors == [], f"{url}: console errors {errors}"
            return took
        raise AssertionError("unreachable")

    def _wait_quietly(self, css: str) -> bool:
        try:
            self.wait(css)
        except BrowserError:
            return False
        return True

    def wait(self, css: str, timeout: float = WAIT) -> WebElement:
        """The first element matching `css` once it is displayed."""
        return self.wait_for(lambda: self._displayed(css), f"{css!r} displayed", timeout)

    def _displayed(self, css: str) -> WebElement | None:
        for element in self.driver.find_elements(By.CSS_SELECTOR, css):
            try:
                if element.is_displayed():
                    return element
            except WebDriverException:  # replaced by a re-render between find and ask
                continue
        return None

    def wait_for(self, probe: Callable[[], Any], what: str, timeout: float = WAIT) -> Any:
        """Poll `probe` until it returns something truthy (bounded)."""
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            try:
                last = probe()
            except (WebDriverException, JavascriptException) as err:
                last = err
            else:
                if last:
                    return last
            time.sleep(0.05)
        raise BrowserError(f"waited {timeout:.0f}s for {what}; last: {last!r}")

    def text(self, css: str) -> str:
        """The visible text of the first element matching `css` (read again if a live
        page re-rendered it between finding and reading)."""
        found: tuple[str] = self.wait_for(lambda: self._text_of(css), f"{css!r} displayed")
        return found[0]

    def attribute(self, css: str, name: str) -> str:
        """An attribute of the first displayed element matching `css` (read again if stale)."""
        found: tuple[str] = self.wait_for(
            lambda: (str(self.wait(css).get_attribute(name)),), f"{css!r} [{name}]"
        )
        return found[0]

    def _text_of(self, css: str) -> tuple[str] | None:
        element = self._displayed(css)
        return None if element is None else (str(element.text),)

    def js(self, script: str, *args: Any) -> Any:
        """Run JavaScript in the page."""
        return self.driver.execute_script(script, *args)

    def console(self) -> list[dict[str, Any]]:
        """Console and network entries logged since the last call."""
        entries: list[dict[str, Any]] = self.driver.get_log("browser")
        return entries

    def console_errors(self) -> list[str]:
        """Messages of SEVERE console entries since the last call."""
        return [str(e["message"]) for e in self.console() if e["level"] == "SEVERE"]

    def responses(self) -> list[tuple[str, str]]:
        """(url, request id) of the responses received since the last call."""
        found = []
        for entry in self.driver.get_log("performance"):
            message = json.loads(entry["message"])["message"]
            if message.get("method") == "Network.responseReceived":
                params = message["params"]
                found.append((str(params["response"]["url"]), str(params["requestId"])))
        return found

    def body(self, request_id: str) -> str:
        """The body of a response the page received (while the page is still open)."""
        got = self.driver.execute_cdp_cmd("Network.getResponseBody", {"requestId": request_id})
        return str(got.get("body", ""))

    def dash_requests(self) -> int:
        """How many Dash callback requests this page has sent so far."""
        return int(
            self.js(
                "return performance.getEntriesByType('resource')"
                ".filter(e => e.name.includes('_dash-update-component')).length"
            )
        )

    def callback_seconds(self) -> float:
        """The longest Dash callback of this page so far, from request to the response's
        last byte (the server's work and the transfer), in seconds."""
        spans = self.js(
            "return performance.getEntriesByType('resource')"
            ".filter(e => e.name.includes('_dash-update-component'))"
            ".map(e => e.responseEnd - e.startTime)"
        )
        return max((float(s) for s in spans), default=0.0) / 1000.0

    def screenshot(self, name: str, *, doc: bool = False) -> Path:
        """Save a PNG under test-artifacts/dashboard/ (and docs/img/ when refreshing docs)."""
        path = ARTIFACTS / f"{name}.png"
        self.driver.save_screenshot(str(path))
        if doc and UPDATE_DOC_IMAGES:
            DOC_IMAGES.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, DOC_IMAGES / f"{name}.png")
        return path

    def full_height_screenshot(self, name: str, *, doc: bool = False) -> Path:
        """A screenshot of the whole page height (window resized for it, then restored)."""
        height = int(self.js("return document.documentElement.scrollHeight"))
        self.driver.set_window_size(1440, min(max(height, 1000), 4000))
        try:
            time.sleep(0.3)  # let the grids lay out at the new size
            return self.screenshot(name, doc=doc)
        finally:
            self.driver.set_window_size(1440, 1000)


class DashboardProcess:
    """`rorunner dashboard --port 0 ...` in a subprocess; knows its URL; stopped by PID."""

    def __init__(self, args: Sequence[str], env: dict[str, str] | None = None) -> None:
        command = [sys.executable, "-m", "rorunner", "dashboard", "--port", "0", *args]
        self.proc = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=REPO,
        )
        self.output: list[str] = []
        self.url = self._read_url()
        self._drain = threading.Thread(target=self._keep_reading, daemon=True)
        self._drain.start()

    def _read_url(self) -> str:
        assert self.proc.stdout is not None
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                break
            self.output.append(line)
            if "serving http://" in line:
                return line.split("serving ", 1)[1].split()[0]
        self.stop()
        raise AssertionError(f"the dashboard did not start: {''.join(self.output)}")

    def _keep_reading(self) -> None:
        assert self.proc.stderr is not None
        try:
            for line in self.proc.stderr:
                self.output.append(line)
        except (OSError, ValueError):  # closed by stop()
            return

    def stop(self) -> None:
        """Terminate the server (SIGTERM, then SIGKILL after 10 s)."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._drain.join(timeout=10)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()


# ---- the plan page's cytoscape graph ------------------------------------------------------

_CY_JS = """
const root = document.getElementById('plan-graph');
for (const e of [root, ...root.querySelectorAll('*')]) {
  if (e._cyreg && e._cyreg.cy) { window.__cy = e._cyreg.cy; return true; }
}
return false;
"""

_NODE_POINT_JS = """
const node = window.__cy.getElementById(arguments[0]);
const box = window.__cy.container().getBoundingClientRect();
const p = node.renderedPosition();
window.scrollBy(0, box.top + p.y - window.innerHeight / 2);
const now = window.__cy.container().getBoundingClientRect();
return [Math.round(now.left + p.x), Math.round(now.top + p.y)];"""


def cy_count(browser: Browser, selector: str) -> int:
    """How many nodes of the plan graph match the cytoscape `selector` (once it is drawn)."""
    browser.wait_for(lambda: browser.js(_CY_JS), "the cytoscape instance")
    return int(browser.js("return window.__cy.nodes(arguments[0]).length", selector))


def tap_node(browser: Browser, node_id: str) -> None:
    """A real mouse click where the plan graph draws node `node_id` (scrolled into view)."""
    x, y = browser.js(_NODE_POINT_JS, node_id)
    actions = ActionBuilder(browser.driver)
    actions.pointer_action.move_to_location(x, y).click()
    actions.perform()
