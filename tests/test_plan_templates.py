"""Templates rendered once per distinct set of values, and plain ones without jinja2's set-up:
both must give exactly what jinja2 itself renders, for every kind of value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2
import pytest

from rorunner.errors import InputError, Location
from rorunner.plan._jinja import RenderMemo, TemplateFiles, environment

TEXTS = [
    "a/{{ x }}/b",
    "{{ x }}{{ y }}",
    "{{x}} and {{ y }}\r\nnext\n",
    "{{ x | default('d') }}/{{ missing | default('m') }}",
    "{% if x %}yes{% else %}no{% endif %}-{{ y }}",
    "{# note #}{{ x }}{% raw %}{{ y }}{% endraw %}",
    "{{- x -}} {{ y }}",
]
# values that compare or hash alike but render differently must not share a rendering
VALUES: list[Any] = ["s", 1, True, 1.0, 0, False, 0.0, -0.0, None, [1, "a"], {"k": 1}, ""]


@pytest.mark.parametrize("text", TEXTS)
def test_memoised_strings_render_as_jinja2(text: str) -> None:
    memo = RenderMemo()
    for _ in range(2):  # the second round is served from the memo where it can be
        for value in VALUES:
            context = {"x": value, "y": "Y", "unused": object()}
            assert memo.value(text, context) == environment().from_string(text).render(context), (
                value
            )


def test_a_missing_variable_is_still_an_error_naming_the_place() -> None:
    memo = RenderMemo()
    assert memo.string("a/{{ x }}", {"x": 1}, Location("site.yml", 3), "ship src") == "a/1"
    with pytest.raises(InputError) as err:
        memo.string("a/{{ x }}", {}, Location("site.yml", 3), "ship src")
    assert "'x' is undefined" in err.value.message
    assert (err.value.location.path, err.value.location.line) == ("site.yml", 3)  # type: ignore[union-attr]


@pytest.mark.parametrize("text", TEXTS)
def test_memoised_template_files_render_as_jinja2(tmp_path: Path, text: str) -> None:
    path = tmp_path / "t.conf.j2"
    path.write_bytes(text.encode())
    files = TemplateFiles()
    reference = (
        environment().overlay(loader=jinja2.FileSystemLoader(tmp_path)).get_template(path.name)
    )
    for _ in range(2):
        for value in VALUES:
            context = {"x": value, "y": "Y"}
            assert files.render(str(path), context) == reference.render(context).encode(), value


def test_many_distinct_values_stop_the_memo_but_not_the_rendering() -> None:
    memo = RenderMemo()
    text = "h/{{ x | upper }}"
    for i in range(300):
        assert memo.value(text, {"x": f"host{i}"}) == f"h/HOST{i}"


def test_a_host_planned_after_others_gets_what_it_gets_alone(tmp_path: Path) -> None:
    """Ship steps of templates and fetch steps are made for later hosts from the first host's
    spec (plan/_expand.py recipes): each host's steps (specs, rendered files, signatures)
    are exactly those it gets when it is planned alone, through the full expansion."""
    from rorunner.plan import build_plan
    from rorunner.playbook import load_playbook
    from tests.projects import make_inventory, write_project

    write_project(
        tmp_path,
        {
            "site.yml": "- name: Site\n  hosts: all\n  roles: [app]\n  rtas:\n"
            "    - name: note\n      fetch: [out.txt, {src: /var/log/x, dest: logs/x}]\n",
            "roles/app/files/app.conf.j2": "host={{ inventory_hostname }} port={{ port }}\n",
            "roles/app/files/static.txt": "same everywhere\n",
            "roles/app/files/sub/deep.j2": "{{ group_names | join(',') }}\n",
            "roles/app/role.yml": "vars:\n  port: 80\nfetch: [status.txt]\n",
            "roles/app/remote/10-run.sh": "true\n",
        },
    )
    hosts = {"web": ["a", "b", "c"], "db": ["d"]}
    inventory = make_inventory(hosts, host_vars={"c": {"port": 8080}})
    book = load_playbook(str(tmp_path / "site.yml"))
    together = {step.node: step for step in build_plan(inventory, book).steps}
    for host in ("a", "b", "c", "d"):
        alone = build_plan(inventory, load_playbook(str(tmp_path / "site.yml")), limit=host)
        assert alone.steps
        for step in alone.steps:
            assert together[step.node] == step, step.node
            assert together[step.node].spec.files == step.spec.files  # rendered bytes too
