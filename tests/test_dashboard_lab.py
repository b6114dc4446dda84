"""The dashboard over real runs on the sshd lab, in headless Chromium: the example project
with one failing host; a run started during the test, followed live; no secret on any page.

One `rorunner dashboard` server reads the three projects of this module. Screenshots go to
test-artifacts/dashboard/ and, with RORUNNER_UPDATE_DOC_IMAGES=1 (make doc-images), to the
README's docs/img/.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import jsonschema
import pytest
from selenium.webdriver.common.by import By

from rorunner.dashboard import _views
from rorunner.model import CONTROLLER
from rorunner.records import RunRecord, RunStore, dry_run_path, dry_run_schema_path
from tests.browser import Browser, DashboardProcess, cy_count, tap_node
from tests.lab import Lab

pytestmark = [pytest.mark.browser, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[1]
FAILING_HOST = "h2"
ERROR = "ERROR: port 9999 not configured"
SECRET_VAR = "vS3cr3t-from-group-vars-7f1c"
SECRET_EXTRA = "eS3cr3t-from-extra-vars-42d9"
LIVE_BOOK = """\
- name: live
  hosts: all
  remote_dir: "{{ remote_dir | default('.rorunner/work/live') }}"
  rtas:
    - name: wait
      local_pre:
        - name: wait-for-release
          run: >-
            touch "$RORUNNER_PLAYBOOK_DIR/started-$RORUNNER_HOST";
            i=0; while [ ! -e "$RORUNNER_PLAYBOOK_DIR/release" ] && [ $i -lt 600 ];
            do sleep 0.1; i=$((i+1)); done
      remote:
        - name: hello
          run: echo "hello from $RORUNNER_HOST"
"""
SECRET_BOOK = """\
- name: secret
  hosts: all
  remote_dir: "{{ remote_dir | default('.rorunner/work/secret') }}"
  rtas:
    - name: uses-secrets
      remote:
        - name: check
          run: test -n "$db_password" && test -n "$api_token" && echo "secrets are set"
        - name: fail-on-h3
          run: test "$RORUNNER_HOST" != h3 || { echo "h3 refuses" >&2; exit 3; }
"""


@dataclass(frozen=True)
class LabBoard:
    """The module's server and its projects (each a copy under tmp)."""

    url: str
    root: Path
    lab: Lab

    def books(self, project: str) -> Path:
        """The playbooks dir of `project` (its .rorunner/ is there)."""
        return self.root / project / "playbooks"

    def store(self, project: str) -> RunStore:
        """The run records of `project`."""
        return RunStore(self.books(project) / ".rorunner")

    def play(self, project: str, book: str, *extra: str) -> subprocess.Popen[str]:
        """Start `rorunner play` on the lab for `project`."""
        argv = [
            sys.executable,
            "-m",
            "rorunner",
            "play",
            str(self.books(project) / book),
            "-i",
            str(self.inventory(project)),
            "--known-hosts",
            str(self.lab.known_hosts),
            "--private-key",
            str(self.lab.client_key),
            *extra,
        ]
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        return subprocess.Popen(
            argv,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=self.books(project),
        )

    def inventory(self, project: str) -> Path:
        """The project's inventory: a copy of the lab's, with group_vars beside it."""
        return self.root / project / "inventory" / "hosts.ini"


def _copy_example(root: Path) -> None:
    """The example project (playbooks/, roles/) with webapp's install failing on one host."""
    for part in ("playbooks", "roles"):
        shutil.copytree(REPO / part, root / part)
    script = root / "roles" / "webapp" / "remote" / "10-install.sh"
    text = script.read_text().replace(
        "set -eu\n",
        f'set -eu\nif [ "$RORUNNER_HOST" = {FAILING_HOST} ]; then echo "{ERROR}" >&2; exit 7; fi\n',
    )
    script.write_text(text)


def _inventory(lab: Lab, root: Path, group_vars: str = "") -> None:
    inventory = root / "inventory"
    inventory.mkdir(parents=True)
    shutil.copy(lab.inventory_ini, inventory / "hosts.ini")
    if group_vars:
        (inventory / "group_vars").mkdir()
        (inventory / "group_vars" / "all.yml").write_text(group_vars)


@pytest.fixture(scope="module")
def board(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LabBoard]:
    root = tmp_path_factory.mktemp("labboard")
    _copy_example(root / "site")
    for project, book in (("live", LIVE_BOOK), ("secret", SECRET_BOOK)):
        (root / project / "playbooks").mkdir(parents=True)
        (root / project / "playbooks" / "site.yml").write_text(book)
    _inventory(lab, root / "site")
    _inventory(lab, root / "live")
    _inventory(lab, root / "secret", group_vars=f"db_password: {SECRET_VAR}\n")
    projects = [
        a for p in ("site", "live", "secret") for a in ("--project", str(root / p / "playbooks"))
    ]
    server = DashboardProcess([*projects, "--refresh", "0.5"])
    try:
        yield LabBoard(server.url.rstrip("/"), root, lab)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def site_run(board: LabBoard) -> RunRecord:
    """The example project run once on the lab: exit 2, one host failed."""
    done = board.play("site", "site.yml")
    out, err = done.communicate(timeout=300)
    assert done.returncode == 2, out + err
    store = board.store("site")
    return store.load(store.resolve("latest"))


def _cell(browser: Browser, grid: str, row: str, column: str) -> str:
    return browser.text(f'#{grid} .ag-row[row-id="{row}"] [col-id="{column}"]')


def test_runs_table_shows_the_lab_run_with_its_counts(
    browser: Browser, board: LabBoard, site_run: RunRecord
) -> None:
    row = f"site-playbooks/{site_run.run_id}"
    browser.open(f"{board.url}/runs/site-playbooks", f'#runs-grid .ag-row[row-id="{row}"]')
    hosts = len(board.lab.hosts)
    expected = {
        "hosts_ok": "1",  # @controller: the example's local_after writes the fleet report
        "hosts_changed": str(hosts - 1),
        "hosts_failed": "1",
        "hosts_unreachable": "0",
        "exit_code": "2",
        "status": "finished",
    }
    got = {column: _cell(browser, "runs-grid", row, column) for column in expected}
    assert got == expected
    assert _cell(browser, "runs-grid", row, "playbook") == "playbooks/site.yml"
    browser.screenshot("dashboard-runs", doc=True)


def test_run_page_marks_the_failing_step_and_shows_its_stderr(
    browser: Browser, board: LabBoard, site_run: RunRecord
) -> None:
    browser.open(
        f"{board.url}/run/site-playbooks/{site_run.run_id}",
        f'#run-grid .ag-row[row-id="{FAILING_HOST}"]',
    )
    failed = [
        c
        for c in browser.driver.find_elements(
            By.CSS_SELECTOR,
            f'#run-grid .ag-center-cols-container .ag-row[row-id="{FAILING_HOST}"] .ag-cell',
        )
        if c.text == "failed"
    ]
    assert len(failed) == 1
    column = failed[0].get_attribute("col-id")
    header = browser.wait(f'#run-grid .ag-header-cell[col-id="{column}"]').text
    assert "remote > 10-install.sh" in header
    executed = sum(1 for s in site_run.steps if s.executed)
    bars = "return document.querySelectorAll('#run-timeline .barlayer .point').length"
    browser.wait_for(
        lambda: browser.js(bars) == executed, f"{executed} timeline bars, one per step"
    )
    failed[0].click()
    assert browser.wait("#detail-stderr").text == ERROR
    assert (
        browser.text("#detail-title")
        == f"{FAILING_HOST}: 01-site > webapp > remote > 10-install.sh"
    )
    link = str(browser.wait("#detail-stderr-link").get_attribute("href"))
    with urllib.request.urlopen(link, timeout=30) as response:
        assert response.read().decode() == ERROR + "\n"
    fetched = browser.text("#run-fetched")
    for host in board.lab.hosts:
        if host.name != FAILING_HOST:
            assert f"fetched/{host.name}/app/status.txt" in fetched
    browser.full_height_screenshot("dashboard-run", doc=True)


def test_plan_page_draws_every_planned_step(
    browser: Browser, board: LabBoard, site_run: RunRecord
) -> None:
    graph = board.play("site", "site.yml", "--graph", "json")
    out, err = graph.communicate(timeout=120)
    assert graph.returncode == 0, err
    nodes = json.loads(out)["nodes"]
    browser.open(f"{board.url}/plan/site-playbooks/{site_run.run_id}", "#plan-graph canvas")
    find = """
const root = document.getElementById('plan-graph');
for (const e of [root, ...root.querySelectorAll('*')]) {
  if (e._cyreg && e._cyreg.cy) return e._cyreg.cy.nodes('.step').length;
}
return null;"""
    browser.wait_for(lambda: browser.js(find) == len(nodes), f"{len(nodes)} step nodes")
    browser.full_height_screenshot("dashboard-plan", doc=True)


def _verdicts(out: str) -> dict[tuple[str, str], str]:
    """{(host, 'play > role > phase > step'): reason} of the steps a dry run would run."""
    found, host = {}, ""
    for line in out.splitlines():
        if line.startswith("[") and line.endswith("]"):
            host = line[1:-1]
        elif line.startswith("  would run  "):
            step, _, reason = line.removeprefix("  would run  ").partition(" (")
            found[(host, step)] = reason.removesuffix(")")
    return found


def test_plan_page_shows_what_a_dry_run_would_run_and_why(
    browser: Browser, board: LabBoard, site_run: RunRecord
) -> None:
    host_vars = board.inventory("site").parent / "host_vars"
    host_vars.mkdir()
    (host_vars / "h1.yml").write_text("tuning: fast\n")  # a new input of h1's steps only
    try:
        done = board.play("site", "site.yml", "--dry-run")
        out, err = done.communicate(timeout=120)
    finally:
        shutil.rmtree(host_vars)
    assert done.returncode == 0, out + err
    said = _verdicts(out)
    state = board.store("site").dry_run()
    assert state is not None
    schema = json.loads(dry_run_schema_path().read_text())
    raw = json.loads(dry_run_path(board.books("site") / ".rorunner").read_text())
    jsonschema.Draft202012Validator(schema).validate(raw)
    steps = {s.task: s for s in site_run.steps}
    recorded = {
        (steps[v.task].host, _views.step_label(steps[v.task])): v.reason
        for v in state.steps
        if v.would_run
    }
    assert recorded == said  # the file holds what the command listed
    changed = "inputs changed: vars.tuning (new: fast)"
    assert all(r.startswith(changed) for (host, _), r in said.items() if host == "h1"), said
    # h2 failed: it runs again; so does the play's fleet report on the controller
    assert {host for host, _ in said} == {"h1", FAILING_HOST, CONTROLLER}
    up_to_date = len(state.steps) - len(said)
    assert up_to_date > 0
    browser.open(f"{board.url}/plan/site-playbooks", "#plan-graph canvas")  # the newest: it
    assert browser.text("h1") == "What would run next (dry run)"
    assert browser.text("#dry-run-summary").startswith(
        f"{len(said)} of {len(state.steps)} steps would run"
    )
    assert cy_count(browser, ".step.would-run") == len(said)
    assert cy_count(browser, ".step.up-to-date") == up_to_date
    verdict = next(v for v in state.steps if v.would_run and "predecessor" in v.reason)
    tap_node(browser, verdict.task)
    browser.wait_for(lambda: "would run" in browser.text("#plan-detail"), "the step's verdict")
    assert browser.text("#detail-reason") == verdict.reason
    browser.full_height_screenshot("dashboard-dry-run", doc=True)
    browser.open(f"{board.url}/plan/site-playbooks/{site_run.run_id}", "#plan-other a")
    browser.wait("#plan-other a").click()  # from the run's plan to the dry run's
    browser.wait_for(lambda: browser.text("h1").endswith("(dry run)"), "the dry run's plan")
    assert browser.console_errors() == []


def test_hosts_page_after_the_lab_run(
    browser: Browser, board: LabBoard, site_run: RunRecord
) -> None:
    browser.open(
        f"{board.url}/hosts/site-playbooks", f'#hosts-grid .ag-row[row-id="{FAILING_HOST}"]'
    )
    assert _cell(browser, "hosts-grid", FAILING_HOST, "failure_streak") == "1"
    assert _cell(browser, "hosts-grid", "h1", "last_state") == "changed"
    browser.wait_for(lambda: "on h1" in browser.text("#hosts-trend .gtitle"), "h1's trend")
    browser.screenshot("dashboard-hosts", doc=True)


def test_a_run_started_during_the_test_is_followed_live(browser: Browser, board: LabBoard) -> None:
    books = board.books("live")
    browser.open(f"{board.url}/runs/live-playbooks", "#runs-count")
    proc = board.play("live", "site.yml")
    try:
        deadline = time.monotonic() + 120
        while not all((books / f"started-{h.name}").exists() for h in board.lab.hosts):
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        # the runs table polls: the run appears
        run_id = browser.attribute("#runs-grid .ag-row", "row-id").split("/", 1)[1]
        assert _cell(browser, "runs-grid", f"live-playbooks/{run_id}", "status") == "running"
        browser.open(f"{board.url}/run/live-playbooks/{run_id}", "#run-live")
        assert browser.text("#run-live") == "● live"
        cell = '#run-grid .ag-row[row-id="h1"] [col-id="c0"]'
        first = browser.wait_for(lambda: _elapsed(browser.text(cell)), "a step in flight")
        browser.wait_for(
            lambda: (_elapsed(browser.text(cell)) or 0) > first, "its elapsed time growing"
        )
        assert "st-running" in browser.attribute(cell, "class")
        browser.screenshot("dashboard-live", doc=True)
        (books / "release").touch()
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, out + err
    finally:
        (books / "release").touch()
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
    browser.wait_for(lambda: browser.text("#run-live") == "finished", "the run's end")
    assert browser.text(cell) == "ok"
    before = browser.dash_requests()
    time.sleep(3)  # six refresh intervals
    assert browser.dash_requests() == before, "the page still polls after the run ended"


def _elapsed(text: str) -> float | None:
    return float(text.split()[1].rstrip("s")) if text.startswith("running ") else None


def test_no_secret_reaches_a_page_or_a_callback(browser: Browser, board: LabBoard) -> None:
    done = board.play("secret", "site.yml", "-e", f"api_token={SECRET_EXTRA}")
    out, err = done.communicate(timeout=300)
    assert done.returncode == 2, out + err  # h3 fails: its step's details get shown too
    assert "secrets are set" in "".join(
        p.read_text() for p in (board.books("secret") / ".rorunner" / "logs").rglob("*.stdout")
    )
    store = board.store("secret")
    record = store.load(store.resolve("latest"))
    seen: list[str] = []

    def visit(url: str, ready: str, *clicks: str) -> None:
        browser.open(url, ready)
        for css in clicks:
            browser.wait(css).click()
            time.sleep(1.0)
        seen.append(browser.driver.page_source)
        for address, request in browser.responses():
            if address.startswith(board.url):
                seen.append(browser.body(request))

    h3 = '#run-grid .ag-center-cols-container .ag-row[row-id="h3"] [col-id="c1"]'
    visit(f"{board.url}/runs/secret-playbooks", "#runs-grid .ag-row")
    visit(f"{board.url}/run/secret-playbooks/{record.run_id}", h3, h3)
    visit(f"{board.url}/plan/secret-playbooks/{record.run_id}", "#plan-graph canvas")
    visit(f"{board.url}/hosts/secret-playbooks", "#hosts-grid .ag-row")
    assert any("h3 refuses" in text for text in seen)  # the failure's details were fetched
    assert any("api_token=********" in text for text in seen)
    leaks = [t[:200] for t in seen if SECRET_VAR in t or SECRET_EXTRA in t]
    assert leaks == []
    on_disk = "".join(
        p.read_text() for p in (board.books("secret") / ".rorunner" / "runs").iterdir()
    )
    assert SECRET_VAR not in on_disk and SECRET_EXTRA not in on_disk
