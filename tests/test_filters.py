"""Jinja2 filters with Ansible's semantics: ansible-core's own filter plugins are the oracle.

Each case runs rorunner's filter and ansible-core's (ansible.plugins.filter.core) on the same
arguments; a second table renders whole template strings with rorunner's Jinja2 environment
and with Ansible's Templar. The ipaddr family is not in ansible-core (ansible.utils needs
netaddr): it is checked against the outputs documented in ansible.utils' own examples.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import pytest
from ansible.parsing.dataloader import DataLoader
from ansible.plugins.filter.core import FilterModule
from ansible.template import Templar, trust_as_template

from rorunner.errors import InputError
from rorunner.plan import build_plan
from rorunner.plan._filters import FILTERS
from rorunner.plan._jinja import environment
from rorunner.playbook import load_playbook
from tests.projects import make_inventory

ansible_filters = FilterModule().filters()

NESTED = {"b": [1, 2, {"x": "y"}], "a": "é", "c": {"d": None, "e": True}, "n": "123"}
CASES: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = [
    ("to_json", (NESTED,), {}),
    ("to_json", ({"t": (1, 2), "d": datetime.date(2024, 1, 2)},), {}),
    ("to_json", (NESTED,), {"sort_keys": True, "indent": 2}),
    ("to_json", ("plain",), {}),
    ("to_json", ([1, None, 2.5, False],), {}),
    ("to_nice_json", (NESTED,), {}),
    ("to_nice_json", (NESTED,), {"indent": 2}),
    ("to_nice_json", ([],), {}),
    ("to_yaml", (NESTED,), {}),
    ("to_yaml", ([1, "two", 3.5, None],), {}),
    ("to_yaml", ({"s": "yes", "q": "a: b", "m": "multi\nline", "long": "x " * 60},), {}),
    ("to_yaml", ("plain",), {}),
    ("to_yaml", (NESTED,), {"default_flow_style": False}),
    ("to_yaml", ({"a": [[1, 2], [3]], "e": [], "f": {}},), {}),
    ("to_nice_yaml", (NESTED,), {}),
    ("to_nice_yaml", (NESTED,), {"indent": 2}),
    ("to_nice_yaml", ({"list": [{"a": 1, "b": [1, 2]}, "x"], "u": "ü"},), {}),
    ("to_nice_yaml", ({"z": 1, "a": 2},), {"sort_keys": False}),
    ("from_json", ('{"a": [1, 2], "b": null}',), {}),
    ("b64encode", ("hello wörld",), {}),
    ("b64encode", ("hello",), {"encoding": "utf-16"}),
    ("b64encode", ("?>?>",), {"urlsafe": True}),
    ("b64encode", (123,), {}),
    ("b64decode", ("aGVsbG8gd8O2cmxk",), {}),
    ("b64decode", ("Pz4_Pg==",), {"urlsafe": True}),
    ("b64decode", ("//5oAGUAbABsAG8A",), {"encoding": "utf-16"}),
    ("regex_replace", ("web01.example.com", r"^web(\d+)\..*$", r"host-\1"), {}),
    ("regex_replace", ("a.b.c", r"\.", "-"), {"count": 1}),
    ("regex_replace", ("ABC abc", "abc", "x"), {"ignorecase": True}),
    ("regex_replace", ("one\ntwo", "^t", "T"), {"multiline": True}),
    ("regex_replace", ("aaa", "a", "b"), {"mandatory_count": 3}),
    ("regex_replace", (42, "4", "x"), {}),
    ("regex_search", ("server1/db42", r"db\d+"), {}),
    ("regex_search", ("server1/db42", r"(\w+)(\d)/db(?P<n>\d+)", "\\2", "\\g<n>"), {}),
    ("regex_search", ("nothing", r"\d"), {}),
    ("regex_search", ("FOO", "foo"), {"ignorecase": True}),
    ("regex_search", ("a\nbc", "^b"), {"multiline": True}),
    ("regex_findall", ("a1b22c333", r"\d+"), {}),
    ("regex_findall", ("k=v x=y", r"(\w)=(\w)"), {}),
    ("regex_escape", ("a.b*c[d]",), {}),
    ("regex_escape", ("a.b*c[d]^$",), {"re_type": "posix_basic"}),
    ("basename", ("/etc/app/app.conf",), {}),
    ("basename", ("relative/dir/",), {}),
    ("basename", ("plain",), {}),
    ("dirname", ("/etc/app/app.conf",), {}),
    ("dirname", ("file",), {}),
    ("dirname", ("/",), {}),
    *[("bool", (value,), {}) for value in ("yes", "No", "ON", "off", "True", "false", "1", "0")],
    *[("bool", (value,), {}) for value in (True, False, 1, 0)],
    ("quote", ("it's a test",), {}),
    ("quote", ("plain",), {}),
    ("quote", ("",), {}),
    ("quote", (None,), {}),
    ("quote", (42,), {}),
    ("hash", ("abc",), {}),
    ("hash", ("abc", "md5"), {}),
    ("hash", ("abc", "sha256"), {}),
    ("hash", ("é", "sha512"), {}),
    ("hash", (12,), {}),
    ("ternary", (True, "y", "n"), {}),
    ("ternary", ("", "y", "n"), {}),
    ("ternary", (None, "y", "n", "none"), {}),
    ("flatten", ([1, [2, [3, [4]]], None, "null"],), {}),
    ("flatten", ([1, [2, [3, [4]]]],), {"levels": 1}),
    ("combine", ({"a": 1, "b": {"x": 1}}, {"b": {"y": 2}, "c": 3}), {}),
    ("combine", ({"a": 1, "b": {"x": 1}}, {"b": {"y": 2}}), {"recursive": True}),
    ("combine", ([{"a": 1}, {"a": 2, "b": 3}, {"c": 4}],), {}),
    ("combine", ({"l": [1, 2]}, {"l": [2, 3]}), {"list_merge": "append"}),
    ("combine", ({"l": [1, 2]}, {"l": [2, 3]}), {"list_merge": "prepend"}),
    ("combine", ({"l": [1, 2]}, {"l": [2, 3]}), {"list_merge": "append_rp"}),
    ("combine", ({"l": [1, 2]}, {"l": [2, 3]}), {"list_merge": "prepend_rp"}),
    ("combine", ({"l": [1, 2]}, {"l": [2, 3]}), {"list_merge": "keep"}),
    (
        "combine",
        ({"a": {"l": [1], "m": {"k": 1}}}, {"a": {"l": [2], "m": {"j": 2}}}),
        {"recursive": True, "list_merge": "append"},
    ),
    ("combine", ({"a": {"x": 1}}, {"a": [1]}), {"recursive": True}),
    ("combine", ({"a": 1},), {}),
    ("combine", (), {}),
    ("dict2items", ({"b": 1, "a": [2]},), {}),
    ("dict2items", ({"k": "v"},), {"key_name": "name", "value_name": "val"}),
    ("items2dict", ([{"key": "a", "value": 1}, {"key": "b", "value": 2}],), {}),
    ("items2dict", ([{"name": "a", "val": 1}],), {"key_name": "name", "value_name": "val"}),
]


@pytest.mark.parametrize(("name", "args", "kwargs"), CASES)
def test_filter_gives_what_ansible_core_gives(
    name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    expected = ansible_filters[name](*args, **kwargs)
    got = FILTERS[name](*args, **kwargs)
    assert got == expected
    assert type(got) is type(expected)


TEMPLATES = [
    "{{ cfg | to_nice_yaml }}",
    "{{ cfg | to_yaml }}",
    "{{ cfg | to_nice_json }}",
    "{{ cfg | to_json }}",
    "{{ 'secret' | b64encode }} {{ 'c2VjcmV0' | b64decode }}",
    "{{ path | basename }} {{ path | dirname }}",
    "{{ 'yes' | bool }} {{ 'off' | bool }}",
    "{{ name | quote }}",
    "{{ name | hash('sha256') }}",
    "{{ host | regex_replace('^web([0-9]+)$', 'app') }} {{ host | regex_replace('[0-9]', '#') }}",
    "{{ host | regex_search('[0-9]+') }}",
    "{{ (cfg | combine({'port': 9090, 'tags': ['c']}, list_merge='append')).tags }}",
    "{{ cfg | dict2items | map(attribute='key') | join(',') }}",
    "{{ cfg | dict2items | items2dict | to_json }}",
    "{% for k, v in (cfg | combine(extra, recursive=True)).items() %}{{ k }}={{ v }};{% endfor %}",
    "{{ name | quote | b64encode | b64decode }}",
]
VARIABLES = {
    "cfg": {"name": "app", "port": 8080, "tags": ["a", "b"], "nested": {"x": 1}},
    "extra": {"nested": {"y": 2}},
    "path": "/srv/app/current/app.conf",
    "name": "it's here",
    "host": "web42",
}


@pytest.mark.parametrize("template", TEMPLATES)
def test_templates_render_as_ansible_renders_them(template: str) -> None:
    text = f"<{template}>"
    templar = Templar(loader=DataLoader(), variables=VARIABLES)
    expected = templar.template(trust_as_template(text))
    assert environment().from_string(text).render(VARIABLES) == expected


@pytest.mark.parametrize(
    ("name", "args", "kwargs", "message"),
    [
        ("bool", ("maybe",), {}, "none of yes/no"),
        ("bool", (2,), {}, "none of yes/no"),
        ("regex_replace", ("aa", "a", "b"), {"mandatory_count": 1}, "should match 1 times"),
        ("regex_search", ("a", "a", "x"), {}, "unknown argument"),
        ("hash", ("a", "nope"), {}, "hash"),
        ("combine", ({"a": 1}, {"b": 2}), {"list_merge": "mix"}, "list_merge must be"),
        ("combine", ({"a": 1}, 3), {}, "expected mappings"),
        ("dict2items", ([1],), {}, "requires a mapping"),
        ("items2dict", ([{"k": 1}],), {}, "requires mappings with the keys"),
        ("b64decode", ("a",), {}, "b64decode"),
        ("ipaddr", ("::1", "nonsense"), {}, "unsupported query"),
    ],
)
def test_filters_refuse_what_they_cannot_take(
    name: str, args: tuple[Any, ...], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        FILTERS[name](*args, **kwargs)


# ansible.utils' documented examples (plugins/filter/ipaddr.py and ipwrap.py), without the
# integer form `42540766412265424405338506004571095040/64` (not an address here).
IP_VALUES = ["192.24.2.1", "host.fqdn", "::1", "", "192.168.32.0/24", "fe80::100/10", True]
IP_DOCUMENTED = [
    ("", ["192.24.2.1", "::1", "192.168.32.0/24", "fe80::100/10"]),
    ("address", ["192.24.2.1", "::1", "fe80::100"]),
    ("host", ["192.24.2.1/32", "::1/128", "fe80::100/10"]),
    ("size", [1, 1, 256, 2**118]),
    ("network", ["192.24.2.1", "::1", "192.168.32.0", "fe80::"]),
    ("prefix", [32, 128, 24, 10]),
    (
        "netmask",
        [
            "255.255.255.255",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
            "255.255.255.0",
            "ffc0::",
        ],
    ),
]


@pytest.mark.parametrize(("query", "expected"), IP_DOCUMENTED)
def test_ipaddr_queries(query: str, expected: list[Any]) -> None:
    assert FILTERS["ipaddr"](IP_VALUES, query) == expected


def test_ipaddr_family_for_ipv6() -> None:
    ipaddr, ipv4, ipv6, ipwrap = (FILTERS[n] for n in ("ipaddr", "ipv4", "ipv6", "ipwrap"))
    assert ipwrap(IP_VALUES) == [
        "192.24.2.1",
        "host.fqdn",
        "[::1]",
        "",
        "192.168.32.0/24",
        "[fe80::100]/10",
        True,
    ]
    assert ipwrap("2001:DB8::1") == "[2001:db8::1]" and ipwrap("db1") == "db1"
    assert ipv4(IP_VALUES) == ["192.24.2.1", "192.168.32.0/24"]
    assert ipv6(IP_VALUES) == ["::1", "fe80::100/10"]
    assert ipv6("192.24.2.1") is False and ipaddr("localhost") is False
    assert ipaddr(["2001:db8:32c:faad::/64"], "host") == []  # a network address is no host
    assert ipaddr("2001:db8::1", "version") == 6
    assert ipaddr("192.24.2.1", "public") == "192.24.2.1"
    assert ipaddr("2001:4860:4860::8888", "public") == "2001:4860:4860::8888"
    assert ipaddr(["192.168.32.0/24", "fe80::100/10", "8.8.8.8"], "private") == [
        "192.168.32.0/24",
        "fe80::100/10",
    ]
    assert ipaddr("2001:db8::5/64", "wrap") == "[2001:db8::5]/64"


def test_a_role_template_uses_the_filters(tmp_path: Path) -> None:
    role = tmp_path / "roles" / "web" / "files"
    role.mkdir(parents=True)
    (role / "app.yml.j2").write_text(
        "{{ settings | combine({'listen': ansible_host | ipwrap}) | to_nice_yaml }}"
    )
    (tmp_path / "site.yml").write_text(
        "- hosts: all\n  vars: {settings: {port: 80}}\n  roles: [web]\n"
    )
    plan = build_plan(make_inventory({"web": ["w1"]}), load_playbook(str(tmp_path / "site.yml")))
    (move,) = plan.steps[0].spec.files
    assert move.content == b"listen: '[2001:db8::1]'\nport: 80\n"


def test_a_filter_error_is_bad_input_at_the_template_line(tmp_path: Path) -> None:
    role = tmp_path / "roles" / "web" / "files"
    role.mkdir(parents=True)
    (role / "app.conf.j2").write_text("ok\nflag={{ 'perhaps' | bool }}\n")
    (tmp_path / "site.yml").write_text("- hosts: all\n  roles: [web]\n")
    with pytest.raises(InputError) as caught:
        build_plan(make_inventory({"web": ["w1"]}), load_playbook(str(tmp_path / "site.yml")))
    assert caught.value.location is not None and caught.value.location.line == 2
    assert "none of yes/no" in str(caught.value)
