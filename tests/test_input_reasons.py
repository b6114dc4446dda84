"""InputErrors (every mistake at once, in line order, capped) and the dry run's input changes."""

from __future__ import annotations

from rorunner.errors import MAX_REPORTED, InputError, InputErrors
from rorunner.model import FileMove, StepSpec
from rorunner.plan import changed_inputs
from rorunner.plan._inputs import ENV_MEMO, SPEC_MEMO, EnvInputs, SpecInputs


def test_input_errors_are_sorted_by_file_and_line_and_capped() -> None:
    errors = [
        InputError("third", "b.yml", 2),
        InputError("first", "a.yml", 9),
        InputError("no place"),
        InputError("second", "a.yml", 10),
        InputError("first", "a.yml", 9),  # the same error twice is shown once
    ]
    group = InputErrors(errors)
    assert group.lines() == ["a.yml:9: first", "a.yml:10: second", "b.yml:2: third", "no place"]
    assert group.exit_code == 3
    many = InputErrors(InputError(f"e{i}", "c.yml", i) for i in range(1, MAX_REPORTED + 4))
    assert many.lines()[-1] == "... and 3 more input errors"
    assert len(many.lines()) == MAX_REPORTED + 1
    assert InputErrors([group, InputError("last", "z.yml", 1)]).lines()[-2:] == [
        "z.yml:1: last",
        "no place",
    ]


def test_changed_inputs_name_values_digests_secrets_and_predecessors() -> None:
    saved = {"command": "#1", "vars.v": "=1.0", "vars.gone": "=x", "vars.pw": None, "file f": "#a"}
    now = {"command": "#1", "vars.v": "=2.0", "vars.new": "=", "vars.pw": None, "file f": "#b"}
    assert changed_inputs(saved, now) == (
        "vars.v 1.0 -> 2.0, vars.new (new: ''), file f, vars.gone (gone)"
    )
    same = {"command": "#1", "vars.pw": None}
    assert changed_inputs(same, same) == "a secret input: vars.pw"
    assert changed_inputs({"command": "#1"}, {"command": "#1"}) == ""
    several = {f"predecessor t{i}": f"#{i}" for i in range(6)}
    assert changed_inputs({}, several).endswith(", and 2 more")


def test_an_environments_input_entries_are_made_once_and_never_mixed_up() -> None:
    memo = EnvInputs()
    env = (("RORUNNER_HOST", "h1"), ("app_version", "1.0"), ("db_password", "x"))
    first = memo(env)
    assert first == {
        "env.RORUNNER_HOST": "=h1",
        "vars.app_version": "=1.0",
        "vars.db_password": None,  # a secret-like name: by name only
    }
    assert memo(env) is first  # the steps of a unit share their environment object
    other = (("RORUNNER_HOST", "h2"), ("app_version", "1.0"), ("db_password", "x"))
    assert memo(other)["env.RORUNNER_HOST"] == "=h2"
    assert memo(tuple(list(env))) == first  # an equal environment object of its own


def test_only_the_last_environments_input_entries_are_kept() -> None:
    memo = EnvInputs()
    envs = [(("RORUNNER_HOST", f"h{i}"),) for i in range(ENV_MEMO + 1)]
    first = memo(envs[0])
    for env in envs[1:]:
        memo(env)
    assert memo(envs[-1]) is memo(envs[-1])
    again = memo(envs[0])  # made anew: the oldest was let go
    assert again == first and again is not first


def _digest_of(path: str) -> str:
    return f"sha of {path}"


def test_a_specs_input_entries_are_made_once_and_never_mixed_up() -> None:
    memo = SpecInputs()
    spec = StepSpec("ship", files=(FileMove("/p/app.conf", "app.conf", 0o644),))
    first = memo.entries(spec, _digest_of, "/p", ())
    assert list(first) == ["file app.conf", "settings"]
    assert memo.entries(spec, _digest_of, "/p", ()) is first  # the hosts share their spec
    # The same spec object with another base, set of made files or content: made anew.
    assert list(memo.entries(spec, _digest_of, "/q", ())) == ["file ../p/app.conf", "settings"]
    made = frozenset({"/p/app.conf"})
    assert memo.entries(spec, _digest_of, "/p", made)["file app.conf"] != first["file app.conf"]
    other = StepSpec("ship", files=(FileMove("/p/app.conf", "app.conf", 0o600),))
    assert memo.entries(other, _digest_of, "/p", ())["file app.conf"] != first["file app.conf"]
    command = StepSpec("remote", command="make")
    assert list(memo.entries(command, _digest_of, "/p", ())) == ["command", "settings"]


def test_only_the_specs_used_last_keep_their_input_entries() -> None:
    memo = SpecInputs()
    specs = [StepSpec("remote", command=f"echo {i}") for i in range(SPEC_MEMO + 2)]
    made = [memo.entries(spec, _digest_of, "/p", ()) for spec in specs[:SPEC_MEMO]]
    assert memo.entries(specs[0], _digest_of, "/p", ()) is made[0]  # used again: now the newest
    memo.entries(specs[SPEC_MEMO], _digest_of, "/p", ())  # one too many: the least recent goes
    assert memo.entries(specs[0], _digest_of, "/p", ()) is made[0]
    again = memo.entries(specs[1], _digest_of, "/p", ())
    assert again == made[1] and again is not made[1]
