"""The dashboard in real headless Chromium: runs table, one run, plan, hosts, live follow,
the static report offline, and load times at scale (1,000 runs; 500 hosts x 10 steps).

One browser and one `rorunner dashboard` server serve every test of this module; each
test reads its own project (a `--project` of the server). Records are written with the
records module (tests/record_factory.py); the lab run of the example project is in
tests/test_dashboard_lab.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from rorunner.dashboard._views import TIMELINE_HOSTS
from rorunner.records import RunRecord, RunStore, StepRecord
from tests.browser import Browser, DashboardProcess, cy_count, tap_node
from tests.record_factory import Spec, make_run, many_runs, write_dry_run_state, writer_for

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PERF_RUNS = 1000
BIG_HOSTS = 500
BIG_STEPS = 10
LOAD_BOUND = 2.0  # seconds, the target; asserted with a generous factor for a loaded machine
LOAD_FACTOR = 4.0
REFRESH = 0.5  # the server's --refresh: live pages poll every 0.5 s, the runs table every 1 s


@dataclass(frozen=True)
class Board:
    """The session's dashboard server and the projects it reads."""

    url: str
    root: Path

    def state(self, project: str) -> Path:
        """The `.rorunner/` of project `project`."""
        return self.root / project / ".rorunner"


BIG = Spec(
    "big-1",
    hosts=tuple(f"web{i:03d}" for i in range(BIG_HOSTS)),
    steps_per_host=BIG_STEPS,
    fail_host="web007",
)


def make_board(root: Path) -> None:
    """Every project the session's server reads (run in a child process: see `board`)."""
    many_runs(root / "perf" / ".rorunner", PERF_RUNS)
    many_runs(root / "small" / ".rorunner", 10)
    make_run(root / "big" / ".rorunner", BIG)
    write_dry_run_state(root / "big" / ".rorunner", BIG, _big_dry_run_reason)
    _history(root / "demo" / ".rorunner")
    _kinds(root / "kinds" / ".rorunner")
    (root / "live").mkdir()


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Board]:
    root = tmp_path_factory.mktemp("board")
    # Made in a child process: building thousands of records would leave this process
    # larger for the rest of the session (tests measuring children's peak RSS see it).
    code = (
        "import sys, pathlib, tests.test_dashboard_browser as t; "
        "t.make_board(pathlib.Path(sys.argv[1]))"
    )
    subprocess.run(
        [sys.executable, "-c", code, str(root)],
        check=True,
        timeout=600,
        cwd=Path(__file__).resolve().parents[1],
    )
    projects = [
        arg
        for name in ("perf", "small", "big", "demo", "kinds", "live")
        for arg in ("--project", str(root / name))
    ]
    server = DashboardProcess([*projects, "--refresh", str(REFRESH)])
    try:
        yield Board(server.url.rstrip("/"), root)
    finally:
        server.stop()


DRY_RUN_HOSTS = 100  # the dry run of the big project: the last 100 hosts would run


def _big_dry_run_reason(step: StepRecord) -> str:
    if step.host == BIG.fail_host:
        return "did not finish last time"
    if int(step.host.removeprefix("web")) >= BIG_HOSTS - DRY_RUN_HOSTS:
        return "inputs changed: vars.release 1.0 -> 2.0"
    return ""


def _history(state: Path) -> None:
    """Six runs of h1..h4: h2 fails the last three (a streak of 3), h3 is only in some."""
    for number in range(6):
        hosts = ("h1", "h2", "h3", "h4") if number % 2 == 0 else ("h1", "h2", "h4")
        make_run(
            state,
            Spec(
                run_id=f"2026090{number + 1}T120000-{100 + number}-1",
                hosts=hosts,
                steps_per_host=10,
                fail_host="h2" if number >= 3 else None,
                fail_at=2,
                start=1_788_000_000.0 + 86_400 * number,
                playbook="site.yml" if number != 4 else "other.yml",
            ),
        )


ADHOC_ARGV = ("rorunner", "run", "web", "-i", "hosts.ini", "-a", "uptime")


def _kinds(state: Path) -> None:
    """A playbook run, then the same with --check, then an ad hoc command."""
    check_argv = ("rorunner", "play", "site.yml", "-i", "hosts.ini", "--check")
    for number, (command, check, argv) in enumerate(
        (("play", False, Spec.argv), ("play", True, check_argv), ("run", False, ADHOC_ARGV))
    ):
        spec = Spec(
            f"2026100{number + 1}T120000-{200 + number}-1",
            steps_per_host=3,
            start=1_790_000_000.0 + 3_600 * number,
            argv=argv,
            command=command,
            check=check,
        )
        make_run(state, spec, logs=False)


def _chips(browser: Browser, css: str) -> dict[str, int]:
    """{status: count} of the status chips under `css`."""
    pairs = browser.js(
        "return Array.from(document.querySelectorAll(arguments[0] + ' .chip'))"
        ".map(c => [c.dataset.status, Number(c.dataset.count)])",
        css,
    )
    return dict(pairs)


def _latest(state: Path) -> RunRecord:
    store = RunStore(state)
    return store.load(store.summaries()[0].run_id)


def _row(project: str, run_id: str) -> str:
    return f'#runs-grid .ag-row[row-id="{project}/{run_id}"]'


def _pick(browser: Browser, dropdown: str, option: str) -> None:
    browser.wait(f"#{dropdown}").click()
    browser.wait_for(
        lambda: next(
            (
                o
                for o in browser.driver.find_elements(By.CSS_SELECTOR, "[role=option]")
                if o.text == option
            ),
            None,
        ),
        f"option {option!r} of {dropdown}",
    ).click()
    ActionChains(browser.driver).send_keys(Keys.ESCAPE).perform()


@dataclass(frozen=True)
class Load:
    """How long a page took to show, and how much of that was the server's."""

    total: float  # from navigation until the page shows what the test waits for
    server: float  # the longest Dash callback: request to response (server work, transfer)

    @property
    def browser(self) -> float:
        """The rest: loading the page's JS, rendering the components, drawing the figures."""
        return max(0.0, self.total - self.server)


def _load(browser: Browser, url: str, ready: str, bars: int | None = None) -> Load:
    """Open `url` until `ready` shows (and the timeline has `bars` bars); the time it took."""
    began = time.monotonic()
    browser.open(url, ready)
    if bars is not None:
        browser.wait_for(lambda: browser.js(BARS_JS) == bars, f"{bars} timeline bars")
    return Load(time.monotonic() - began, browser.callback_seconds())


def _report(timings: dict[str, float], **loads: Load) -> None:
    """Record each load's total, server and browser seconds, and the machine's load average."""
    for name, load in loads.items():
        timings.update(
            {name: load.total, f"{name}_server": load.server, f"{name}_browser": load.browser}
        )
    timings["load_average_1min"] = os.getloadavg()[0]


BARS_JS = "return document.querySelectorAll('#run-timeline .barlayer .point').length"


# ---- runs table ------------------------------------------------------------------------


def test_runs_table_of_1000_runs_loads_fast_newest_first(
    browser: Browser, board: Board, timings: dict[str, float]
) -> None:
    newest = RunStore(board.state("perf")).summaries()[0]
    browser.open(f"{board.url}/runs/demo", "#runs-grid .ag-row")  # the browser caches the JS
    small = _load(browser, f"{board.url}/runs/small", "#runs-grid .ag-row")
    cold = _load(browser, f"{board.url}/runs/perf", _row("perf", newest.run_id))
    warm = _load(browser, f"{board.url}/runs/perf", _row("perf", newest.run_id))
    _report(timings, runs_1000_cold=cold, runs_1000_warm=warm, runs_10=small)
    browser.screenshot("runs-1000")
    assert browser.text("#runs-count") == f"{PERF_RUNS} runs"
    top = '#runs-grid .ag-center-cols-container .ag-row[row-index="0"]'
    assert browser.attribute(top, "row-id") == f"perf/{newest.run_id}"
    assert "1 to 25 of 1,000" in browser.text(".ag-paging-panel")
    assert warm.total < LOAD_BOUND * LOAD_FACTOR, timings
    assert cold.total < LOAD_BOUND * LOAD_FACTOR * 2, timings
    assert warm.total < max(small.total, 0.5) * 3, timings  # 100x the runs, not 100x the time


def test_runs_table_sorts_and_filters(browser: Browser, board: Board) -> None:
    records = RunStore(board.state("perf")).summaries()
    failing = [r for r in records if r.exit_code]
    browser.open(f"{board.url}/runs/perf", "#runs-grid .ag-row")
    header = browser.wait('.ag-header-cell[col-id="hosts_failed"]')
    header.click()  # ascending
    header.click()  # descending: runs with a failed host first
    browser.wait_for(
        lambda: (
            browser.js(
                "return document.querySelector('#runs-grid .ag-center-cols-container "
                '.ag-row[row-index="0"] [col-id=hosts_failed]\').textContent'
            )
            == "1"
        ),
        "a run with a failed host on top",
    )
    _pick(browser, "runs-status", "failed")
    browser.wait_for(
        lambda: browser.text("#runs-count") == f"{len(failing)} runs", f"{len(failing)} failed runs"
    )
    assert f"of {len(failing)}" in browser.text(".ag-paging-panel")
    browser.screenshot("runs-filtered")


def test_runs_table_filters_by_playbook_and_host(browser: Browser, board: Board) -> None:
    browser.open(f"{board.url}/runs/demo", "#runs-grid .ag-row")
    assert browser.text("#runs-count") == "6 runs"
    _pick(browser, "runs-host", "h3")
    browser.wait_for(lambda: browser.text("#runs-count") == "3 runs", "the 3 runs with h3")
    _pick(browser, "runs-playbook", "demo/other.yml")  # the playbook's dir and name
    browser.wait_for(lambda: browser.text("#runs-count") == "1 runs", "h3's run of other.yml")
    top = '#runs-grid .ag-center-cols-container .ag-row[row-index="0"]'
    assert browser.attribute(top, "row-id") == "demo/20260905T120000-104-1"


def test_check_runs_and_ad_hoc_commands_say_what_they_are(browser: Browser, board: Board) -> None:
    adhoc, check, play = (r.run_id for r in RunStore(board.state("kinds")).summaries())
    browser.open(f"{board.url}/runs/kinds", _row("kinds", adhoc))
    kinds = {
        run_id: browser.text(f'{_row("kinds", run_id)} [col-id="kind"]')
        for run_id in (adhoc, check, play)
    }
    assert kinds == {adhoc: "ad hoc", check: "check", play: "play"}
    assert browser.text(f'{_row("kinds", adhoc)} [col-id="playbook"]') == "-"
    assert browser.text(f'{_row("kinds", adhoc)} [col-id="command"]') == " ".join(ADHOC_ARGV[1:])
    browser.open(f"{board.url}/run/kinds/{check}", "#run-kind")
    assert "nothing was changed on the hosts" in browser.text("#run-kind")
    assert browser.driver.find_elements(By.LINK_TEXT, "plan graph")
    browser.open(f"{board.url}/run/kinds/{adhoc}", "#run-kind")
    assert browser.text("#run-kind").startswith("ad hoc: an ad hoc command (rorunner run)")
    assert not browser.driver.find_elements(By.LINK_TEXT, "plan graph")
    browser.open(f"{board.url}/run/kinds/{play}", "#run-status")
    assert not browser.driver.find_elements(By.CSS_SELECTOR, "#run-kind")
    browser.open(f"{board.url}/plan/kinds", "#plan-info")  # the newest run with a plan
    assert browser.text("h1") == f"Plan of run {check}"
    assert browser.console_errors() == []


# ---- one run -----------------------------------------------------------------------------


def _failed_cell(browser: Browser, host: str) -> tuple[str, object]:
    cells = [
        c
        for c in browser.driver.find_elements(
            By.CSS_SELECTOR,
            f'#run-grid .ag-center-cols-container .ag-row[row-id="{host}"] .ag-cell',
        )
        if c.text == "failed"
    ]
    assert len(cells) == 1, [c.text for c in cells]
    return str(cells[0].get_attribute("col-id")), cells[0]


def test_run_page_grid_timeline_and_step_details(browser: Browser, board: Board) -> None:
    record = _latest(board.state("demo"))
    browser.open(f"{board.url}/run/demo/{record.run_id}", '#run-grid .ag-row[row-id="h2"]')
    assert _chips(browser, "#step-counts") == {s: n for s, n in record.totals.items() if n}
    assert _chips(browser, "#host-counts") == {"changed": 2, "failed": 1}
    column, cell = _failed_cell(browser, "h2")
    header = browser.wait(f'#run-grid .ag-header-cell[col-id="{column}"]')
    assert "remote > 10-install.sh" in header.text
    assert "st-failed" in str(cell.get_attribute("class"))  # type: ignore[attr-defined]
    executed = sum(1 for s in record.steps if s.executed)
    browser.wait_for(lambda: browser.js(BARS_JS) == executed, f"{executed} timeline bars")
    cell.click()  # type: ignore[attr-defined]
    stderr = browser.wait("#detail-stderr")
    assert stderr.text == "ERROR: port 9999 not configured on h2"
    assert browser.text("#detail-reason") == "exit status 1"
    assert browser.text("#detail-command") == "echo 10-install.sh"
    link = browser.wait("#detail-stderr-link").get_attribute("href")
    with urllib.request.urlopen(str(link), timeout=30) as response:
        assert response.read().decode() == "ERROR: port 9999 not configured on h2\n"
        assert "attachment" in response.headers["Content-Disposition"]
    assert "fetched/h1/status.txt" in browser.text("#run-fetched")
    assert "ERROR: port 9999 not configured on h2" in browser.text("#run-failures")
    browser.full_height_screenshot("run-failed-step")
    assert browser.console_errors() == []


def test_timeline_bar_click_shows_that_step(browser: Browser, board: Board) -> None:
    record = _latest(board.state("demo"))
    browser.open(f"{board.url}/run/demo/{record.run_id}", "#run-timeline .barlayer .point")
    bar = browser.driver.find_elements(By.CSS_SELECTOR, "#run-timeline .barlayer .point path")[0]
    ActionChains(browser.driver).move_to_element(bar).pause(0.3).click().perform()
    title = browser.wait("#detail-title").text
    assert any(
        title == f"{s.host}: {s.play} > {s.role} > {s.phase} > {s.step}"
        for s in record.steps
        if s.executed
    ), title


def test_run_page_of_500_hosts_loads_fast(
    browser: Browser, board: Board, timings: dict[str, float]
) -> None:
    demo = _latest(board.state("demo"))
    demo_url = f"{board.url}/run/demo/{demo.run_id}"
    browser.open(demo_url, "#run-timeline .barlayer .point")  # plotly.js loaded (and cached)
    demo_bars = sum(1 for s in demo.steps if s.executed)
    small = _load(browser, demo_url, '#run-grid .ag-row[row-id="h1"]', bars=demo_bars)
    # the first timeline page; web007 fails at its step fail_at and runs no more
    bars = TIMELINE_HOSTS * BIG_STEPS - (BIG_STEPS - BIG.fail_at - 1)
    big = _load(browser, f"{board.url}/run/big/big-1", '#run-grid .ag-row[row-id="web000"]', bars)
    _report(timings, run_500x10=big, run_4x10=small)
    assert _chips(browser, "#host-counts") == {"changed": BIG_HOSTS - 1, "failed": 1}
    fetched = BIG_HOSTS - 1  # all but web007, which failed before its fetch step
    assert f"({fetched} from {fetched} hosts)" in browser.text("#run-fetched h2")
    browser.screenshot("run-500-hosts")
    last = BIG_HOSTS - TIMELINE_HOSTS
    _pick(browser, "timeline-page", f"hosts {last + 1}-{BIG_HOSTS} of {BIG_HOSTS}")
    browser.wait_for(
        lambda: browser.js(BARS_JS) == TIMELINE_HOSTS * BIG_STEPS, "the last page's bars"
    )
    assert big.total < LOAD_BOUND * LOAD_FACTOR, timings
    assert big.total < max(small.total, 0.5) * 4, timings  # 125x the hosts, not 125x the time


# ---- plan --------------------------------------------------------------------------------


def test_plan_page_shows_every_step_coloured_and_searchable(browser: Browser, board: Board) -> None:
    record = _latest(board.state("demo"))
    plan = RunStore(board.state("demo")).plan(record.run_id)
    assert plan is not None
    browser.open(f"{board.url}/plan/demo", "#plan-graph canvas")
    assert browser.wait_for(lambda: cy_count(browser, ".step") == len(plan["nodes"]), "every step")
    assert cy_count(browser, ".step.failed") == 1
    assert cy_count(browser, ".group") == len({n["host"] for n in plan["nodes"]})  # one per host
    browser.screenshot("plan")
    search = browser.wait("#plan-search")
    search.send_keys("h2/", Keys.ENTER)
    browser.wait_for(lambda: cy_count(browser, ".match") == 10, "h2's 10 steps matched")
    assert cy_count(browser, ".dim") == len(plan["nodes"]) - 10
    failed = next(s for s in record.steps if s.status == "failed")
    tap_node(browser, failed.task)
    browser.wait_for(lambda: "ERROR: port 9999" in browser.text("#plan-detail"), "the step detail")
    browser.wait("#plan-group label:nth-of-type(2) input").click()  # group by play
    browser.wait_for(lambda: cy_count(browser, ".group") == 1, "one group per play")
    assert browser.console_errors() == []


def test_plan_of_500_hosts_is_collapsed_per_host(
    browser: Browser, board: Board, timings: dict[str, float]
) -> None:
    took = browser.open(f"{board.url}/plan/big/big-1", "#plan-graph canvas")
    browser.wait_for(lambda: cy_count(browser, ".hostnode") == BIG_HOSTS, "one node per host")
    timings["plan_500x10"] = took
    assert cy_count(browser, ".step") == 0
    assert cy_count(browser, ".hostnode.failed") == 1
    browser.js("window.__cy.fit(window.__cy.getElementById('host:web007'), 200)")
    tap_node(browser, "host:web007")
    browser.wait_for(lambda: cy_count(browser, ".step") == BIG_STEPS, "web007 expanded")
    assert cy_count(browser, ".step.failed") == 1
    browser.screenshot("plan-500-hosts")
    assert browser.console_errors() == []


def test_dry_run_of_500_hosts_colours_each_host_and_says_why(
    browser: Browser, board: Board, timings: dict[str, float]
) -> None:
    began = time.monotonic()
    browser.open(f"{board.url}/plan/big", "#plan-graph canvas")  # newer than big-1: the dry run
    browser.wait_for(lambda: cy_count(browser, ".hostnode") == BIG_HOSTS, "one node per host")
    _report(timings, plan_dry_run_500x10=Load(time.monotonic() - began, browser.callback_seconds()))
    assert browser.text("h1") == "What would run next (dry run)"
    would = (DRY_RUN_HOSTS + 1) * BIG_STEPS  # and web007, which failed
    assert browser.text("#dry-run-summary").startswith(
        f"{would} of {BIG_HOSTS * BIG_STEPS} steps would run"
    )
    assert cy_count(browser, ".hostnode.would-run") == DRY_RUN_HOSTS + 1
    assert cy_count(browser, ".hostnode.up-to-date") == BIG_HOSTS - DRY_RUN_HOSTS - 1
    host = f"web{BIG_HOSTS - 1:03d}"
    browser.js(f"window.__cy.fit(window.__cy.getElementById('host:{host}'), 200)")
    tap_node(browser, f"host:{host}")
    browser.wait_for(lambda: cy_count(browser, ".step.would-run") == BIG_STEPS, f"{host} expanded")
    step = next(s for s in _latest(board.state("big")).steps if s.host == host)
    browser.js(f"window.__cy.fit(window.__cy.getElementById({json.dumps(step.task)}), 300)")
    tap_node(browser, step.task)
    browser.wait_for(lambda: browser.text("#detail-reason"), "the step's reason")
    assert browser.text("#detail-reason") == "inputs changed: vars.release 1.0 -> 2.0"
    browser.screenshot("plan-dry-run-500-hosts")
    assert browser.console_errors() == []


# ---- hosts -------------------------------------------------------------------------------


def test_hosts_page_history_and_trend(browser: Browser, board: Board) -> None:
    browser.open(f"{board.url}/hosts/demo", '#hosts-grid .ag-row[row-id="h2"]')

    def cell(host: str, column: str) -> str:
        return browser.text(f'#hosts-grid .ag-row[row-id="{host}"] [col-id="{column}"]')

    assert cell("h2", "failure_streak") == "3"
    assert cell("h1", "failure_streak") == "0"
    assert cell("h2", "last_state") == "failed"
    third = RunStore(board.state("demo")).load("20260903T120000-102-1")
    assert cell("h2", "last_success") == third.started_at.replace("T", " ")[:19]
    assert cell("h3", "last_run") == "20260905T120000-104-1"
    assert cell("h1", "runs") == "6"
    assert cell("h3", "runs") == "3"
    browser.wait('#hosts-grid .ag-row[row-id="h3"] [col-id="host"]').click()
    browser.wait_for(lambda: "on h3" in browser.text("#hosts-trend .gtitle"), "h3's trend")
    traces = browser.js(
        "return document.querySelectorAll('#hosts-trend .scatterlayer .trace').length"
    )
    assert traces == 10
    browser.screenshot("hosts")
    assert browser.console_errors() == []


# ---- live ----------------------------------------------------------------------------------


def test_a_run_appears_and_is_followed_live_then_polling_stops(
    browser: Browser, board: Board
) -> None:
    state = board.state("live")
    browser.open(f"{board.url}/runs/live", "#runs-count")
    spec = Spec("live-1", hosts=("a", "b"), steps_per_host=3)
    writer = writer_for(state, spec, time.time, min_interval=0.1)
    step = threading.Event()
    tasks = [s["task"] for s in writer.snapshot()["steps"]]

    def run() -> None:
        writer.start()
        for task in tasks:
            writer.step_started(task)
            step.wait(timeout=60)
            step.clear()
            writer.step_finished(task, "changed", rc=0)
        writer.finish(exit_code=0)

    worker = threading.Thread(target=run)
    worker.start()
    try:
        browser.wait(_row("live", "live-1"))  # the runs table polls: the new run appears
        browser.open(f"{board.url}/run/live/live-1", "#run-live")
        assert browser.text("#run-live") == "● live"
        first = '#run-grid .ag-row[row-id="a"] [col-id="c0"]'
        seen = browser.wait_for(lambda: _elapsed(browser.text(first)), "a running step")
        browser.wait_for(lambda: (_elapsed(browser.text(first)) or 0) > seen, "growing elapsed")
        assert "st-running" in browser.attribute(first, "class")
        browser.screenshot("run-live")
        for _ in tasks:
            step.set()
            browser.wait_for(lambda: not step.is_set(), "the writer to take the next step")
        step.set()
    finally:
        step.set()
        worker.join(timeout=60)
    browser.wait_for(lambda: browser.text("#run-live") == "finished", "the run to end")
    assert _chips(browser, "#step-counts") == {"changed": 6}
    before = browser.dash_requests()
    time.sleep(REFRESH * 6)
    assert browser.dash_requests() == before, "the page still polls after the run ended"
    assert browser.console_errors() == []


def _elapsed(text: str) -> float | None:
    """3.2 from 'running 3.2s'."""
    return float(text.split()[1].rstrip("s")) if text.startswith("running ") else None


# ---- static report ------------------------------------------------------------------------


def test_static_report_opens_offline_with_the_same_counts(
    browser: Browser, board: Board, tmp_path: Path
) -> None:
    record = _latest(board.state("demo"))
    out = tmp_path / "report.html"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "rorunner",
            "report",
            record.run_id,
            "-o",
            str(out),
            "-p",
            str(board.root / "demo"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    html = out.read_text()
    assert "<script src=" not in html and 'rel="stylesheet"' not in html
    browser.driver.get("about:blank")  # no dashboard page left polling the server
    browser.driver.execute_cdp_cmd("Network.enable", {})
    browser.driver.execute_cdp_cmd(
        "Network.emulateNetworkConditions",
        {"offline": True, "latency": 0, "downloadThroughput": 0, "uploadThroughput": 0},
    )
    try:
        browser.open(out.as_uri(), "#timeline .barlayer .point")
        chips = browser.js(
            "return Array.from(document.querySelectorAll('#step-counts .chip'))"
            ".map(c => [c.dataset.status, Number(c.dataset.count)])"
        )
        expected = {s: n for s, n in record.totals.items() if n}
        assert dict(chips) == expected
        executed = sum(1 for s in record.steps if s.executed)
        bars = browser.js("return document.querySelectorAll('#timeline .barlayer .point').length")
        assert bars == executed
        assert browser.js("return performance.getEntriesByType('resource').length") == 0
        assert "ERROR: port 9999 not configured on h2" in browser.text("#failures")
        assert len(browser.driver.find_elements(By.CSS_SELECTOR, "#grid td.st-failed")) == 2
        browser.full_height_screenshot("report")
    finally:
        browser.driver.execute_cdp_cmd(
            "Network.emulateNetworkConditions",
            {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
        )
    assert browser.console_errors() == []
