"""The dashboard over a fleet run that holds real secrets (issues 8 and 11): Ansible Vault
values (an encrypted group_vars file, an inline !vault value and a var rendered from one) and
a -K become password that sudo asks for on every host. None of them appears in any page's
HTML, any Dash callback response or any log the dashboard serves."""

from __future__ import annotations

import hashlib
import re
import time
import urllib.request
from pathlib import Path

import pytest

from rorunner.records import RunStore
from tests.browser import Browser, DashboardProcess
from tests.lab import FleetLab
from tests.test_fleet_play import _ansible_vault, _ops_inventory, _rorunner

pytestmark = [pytest.mark.browser, pytest.mark.slow]

VAULT_PASSWORD = "vault-pw-d4sh-91c0"
GROUP_SECRET = "gS3cr3t-vaulted-group-vars-5e2a"
INLINE_SECRET = "iS3cr3t-inline-vault-b7d3"
SITE = """\
- name: fleet
  hosts: inner
  become: true
  vars:
{inline}
    dsn: "pg://app:{{{{ db_password }}}}@db"
  rtas:
    - name: uses-secrets
      remote:
        - name: check
          run: >-
            test "$(id -un)" = root && for v in "$db_password" "$api_token" "$dsn";
            do printf %s "$v" | sha256sum | cut -c1-64; done
        - name: fail-on-inner2
          run: test "$RORUNNER_HOST" != inner2 || {{ echo "inner2 refuses" >&2; exit 3; }}
"""


def _project(root: Path, fleet: FleetLab) -> Path:
    """A project dir: site.yml with an inline !vault value, group_vars/all.yml encrypted."""
    root.mkdir()
    (root / "vault.pass").write_text(VAULT_PASSWORD + "\n")
    (root / "group_vars").mkdir()
    (root / "group_vars" / "all.yml").write_text(f"db_password: {GROUP_SECRET}\n")
    _ansible_vault(root, "encrypt", "--vault-password-file", "vault.pass", "group_vars/all.yml")
    inline = _ansible_vault(
        root, "encrypt_string", "--vault-password-file", "vault.pass", INLINE_SECRET
    )
    inline = "\n".join(f"    {line}" for line in f"api_token: {inline}".splitlines())
    (root / "site.yml").write_text(SITE.format(inline=inline))
    (root / "hosts.ini").write_text(_ops_inventory(fleet, *(h.name for h in fleet.inner)))
    return root


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class Pages:
    """Every page visited, with the callback responses it received and the logs it links."""

    def __init__(self, browser: Browser, url: str) -> None:
        self.browser, self.url = browser, url
        self.seen: list[str] = []

    def visit(self, path: str, ready: str, *clicks: str) -> None:
        """Open `path`, click each of `clicks` (keeping what each click fetched), then keep
        the page's HTML and every response from the dashboard server."""
        self.browser.open(self.url + path, ready)
        for css in clicks:
            self.browser.wait(css).click()
            time.sleep(1.0)
            self.seen.append(self.browser.driver.page_source)
            self._logs()
        self.seen.append(self.browser.driver.page_source)
        for address, request in self.browser.responses():
            if address.startswith(self.url):
                self.seen.append(self.browser.body(request))

    def _logs(self) -> None:
        for href in re.findall(r'href="(/logs/[^"]+)"', self.browser.driver.page_source):
            with urllib.request.urlopen(self.url + href, timeout=30) as response:
                self.seen.append(response.read().decode(errors="replace"))


def test_no_vault_value_or_become_password_on_any_page(
    browser: Browser, fleet_lab: FleetLab, tmp_path: Path
) -> None:
    project = _project(tmp_path / "fleetproj", fleet_lab)
    vault = ["--vault-password-file", "vault.pass"]
    done = _rorunner(
        project,
        fleet_lab,
        "play",
        "site.yml",
        "-i",
        "hosts.ini",
        "-K",
        *vault,
        stdin=fleet_lab.users.password + "\n",
    )
    assert done.returncode == 2, done.stdout + done.stderr  # inner2 fails: details get shown
    logs = "".join(p.read_text() for p in (project / ".rorunner" / "logs").rglob("*.stdout"))
    dsn = f"pg://app:{GROUP_SECRET}@db"
    wanted = "\n".join(_sha(v) for v in (GROUP_SECRET, INLINE_SECRET, dsn))
    assert logs.count(wanted) == 2, logs  # both hosts' steps, as root, got every secret
    secrets = [GROUP_SECRET, INLINE_SECRET, fleet_lab.users.password, VAULT_PASSWORD]
    server = DashboardProcess(["--project", str(project), "--refresh", "0.5"])
    try:
        pages = Pages(browser, server.url.rstrip("/"))
        store = RunStore(project / ".rorunner")
        run_id = store.load(store.resolve("latest")).run_id
        cell = '#run-grid .ag-center-cols-container .ag-row[row-id="{}"] [col-id="{}"]'
        inner1, inner2 = cell.format("inner1", "c0"), cell.format("inner2", "c1")
        pages.visit("/", "#runs-grid .ag-row")
        pages.visit("/runs/fleetproj", "#runs-grid .ag-row")
        pages.visit(f"/run/fleetproj/{run_id}", inner2, inner2, inner1)
        pages.visit(f"/plan/fleetproj/{run_id}", "#plan-graph canvas")
        pages.visit("/plan/fleetproj", "#plan-graph canvas")
        pages.visit("/hosts/fleetproj", "#hosts-grid .ag-row")
    finally:
        server.stop()
    assert any("inner2 refuses" in text for text in pages.seen)  # the failure's details
    assert any(_sha(INLINE_SECRET) in text for text in pages.seen)  # the check's stdout log
    leaks = [(s, t[:200]) for t in pages.seen for s in secrets if s in t]
    assert leaks == []
