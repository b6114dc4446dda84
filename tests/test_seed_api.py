"""Unit tests of the seed task API: dict shapes, names, refs, RTAS, actions (fake hosts)."""

from __future__ import annotations

import inspect
import os
from pathlib import Path
from typing import Any

import pytest
from doit.cmd_base import ModuleTaskLoader
from doit.doit_cmd import DoitMain

import rorunner
from rorunner.errors import InputError, RemoteFailure, UnreachableError
from rorunner.model import ConnectionSpec, FileMove
from rorunner.tasks import (
    StepFailure,
    doit_task_generator_for_RTAS,
    gen_task_fetch_files,
    gen_task_local_exec,
    gen_task_remote_exec,
    gen_task_ship_files,
    get_ref_name,
    step_error,
    task_meta,
)
from rorunner.testing import FakePool, installed, run_task

UNSAFE_FOR_DOIT = set(":=*?[] ")


@pytest.fixture
def pool() -> FakePool:
    """In-memory hosts keyed by spec.name; 2001:db8::dead cannot be reached."""
    fleet = FakePool()
    fleet.host("2001:db8::dead").unreachable = "connect: no route to host"
    return fleet


def run_action(task: dict[str, Any], pool: FakePool | None = None) -> object:
    """Run a generated task's actions the way doit would, against the fake hosts."""
    return run_task(task, pool if pool is not None else FakePool())


# --- the seed's signatures ------------------------------------------------------------------

SEED_SIGNATURES = {
    gen_task_ship_files: [
        ("files_to_ship", inspect.Parameter.empty),
        ("ipv6", inspect.Parameter.empty),
        ("label", inspect.Parameter.empty),
        ("id_args", []),
        ("remote_dir", "/tmp"),
        ("is_dep_task", True),
        ("deps", []),
    ],
    gen_task_remote_exec: [
        ("cmdstr", inspect.Parameter.empty),
        ("ipv6", inspect.Parameter.empty),
        ("id_args", []),
        ("args", []),
        ("label", None),
        ("is_dep_task", False),
        ("deps", []),
    ],
    gen_task_local_exec: [
        ("func", inspect.Parameter.empty),
        ("id_args", inspect.Parameter.empty),
        ("args", []),
        ("is_dep_task", True),
        ("deps", []),
        ("label", None),
    ],
    doit_task_generator_for_RTAS: [
        ("rt_tag", inspect.Parameter.empty),
        ("ipv6", inspect.Parameter.empty),
        ("id_args", inspect.Parameter.empty),
        ("remote_work_dir", "/tmp"),
    ],
    gen_task_fetch_files: [
        ("files_to_fetch", inspect.Parameter.empty),
        ("ipv6", inspect.Parameter.empty),
        ("label", inspect.Parameter.empty),
        ("id_args", []),
        ("remote_dir", "/tmp"),
        ("local_dir", "fetched"),
        ("is_dep_task", True),
        ("deps", []),
    ],
}


@pytest.mark.parametrize("func", list(SEED_SIGNATURES), ids=lambda f: f.__name__)
def test_seed_parameters_names_order_defaults(func: Any) -> None:
    params = list(inspect.signature(func).parameters.values())
    positional = [p for p in params if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD]
    assert [(p.name, p.default) for p in positional] == SEED_SIGNATURES[func]
    assert all(p.kind is inspect.Parameter.KEYWORD_ONLY for p in params[len(positional) :])


def test_exported_from_the_package_root() -> None:
    assert rorunner.gen_task_ship_files is gen_task_ship_files
    assert rorunner.get_ref_name is get_ref_name
    assert rorunner.doit_task_generator_for_RTAS is doit_task_generator_for_RTAS


def test_list_defaults_are_never_mutated(pool: FakePool, tmp_path: Path) -> None:
    before = {f: tuple(repr(d) for d in (f.__defaults__ or ())) for f in SEED_SIGNATURES}
    src = tmp_path / "a.txt"
    src.write_text("a")
    tasks = [
        gen_task_ship_files([str(src)], "2001:db8::1", "ship"),
        gen_task_remote_exec("true", "2001:db8::1"),
        gen_task_local_exec(print, ["x"]),
        gen_task_fetch_files(["out"], "2001:db8::1", "fetch"),
    ]
    for task in tasks:
        task["task_dep"].append("polluted")
        task["file_dep"].append("polluted")
        if isinstance(task["actions"][0], tuple):
            task["actions"][0][1].append("polluted")
    after = {f: tuple(repr(d) for d in (f.__defaults__ or ())) for f in SEED_SIGNATURES}
    assert before == after
    assert gen_task_remote_exec("true", "2001:db8::1")["task_dep"] == []


# --- names and references -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ipv6", "expected"),
    [
        ("2001:db8::1", "2001_db8__1"),
        ("2001:0db8:85a3:0000:0000:8a2e:0370:7334", "2001_db8_85a3__8a2e_370_7334"),
        ("[2001:db8::1]:2222", "2001_db8__1_p2222"),
        ("[::1]:2201", "__1_p2201"),
        ("fe80::1%eth0", "fe80__1_eth0"),
        (ConnectionSpec(address="2001:db8::7", label="web-1"), "web-1"),
        (ConnectionSpec(address="2001:db8::7", port=2200), "2001_db8__7_p2200"),
    ],
)
def test_host_part_of_names(pool: FakePool, ipv6: Any, expected: str) -> None:
    task = gen_task_remote_exec("true", ipv6, is_dep_task=True, label="probe")
    assert task["name"] == expected
    assert get_ref_name(task) == f"probe:{expected}"


def test_ship_dict_shape(pool: FakePool, tmp_path: Path) -> None:
    src = tmp_path / "file1.txt"
    src.write_text("one")
    task = gen_task_ship_files([str(src)], "2001:db8::1", "ship_files_task", id_args=["v1", 2])
    assert task["basename"] == "ship_files_task"
    assert task["name"] == "2001_db8__1_v1_2"
    assert task["file_dep"] == [str(src)]
    assert task["task_dep"] == []
    assert get_ref_name(task) == "ship_files_task:2001_db8__1_v1_2"
    assert task_meta(task) == {
        "kind": "ship",
        "host": "2001:db8::1",
        "ref": "ship_files_task:2001_db8__1_v1_2",
        "label": "ship_files_task",
    }
    assert "paramiko" not in repr(task)


def test_names_are_doit_safe_whatever_the_input(pool: FakePool) -> None:
    task = gen_task_remote_exec(
        "true", "[2001:db8::1]:22", id_args=["a:b", "x=y", "*?[]", "sp ace"], label="l:a=b*"
    )
    ref = get_ref_name(task, group="grp")
    base, name = ref.split(":")
    assert not UNSAFE_FOR_DOIT & set(base + name)
    with pytest.raises(ValueError, match="not doit-safe"):
        gen_task_remote_exec("true", "2001:db8::1", name="bad:name")


def test_is_dep_task_false_leaves_basename_to_the_task_function(pool: FakePool) -> None:
    task = gen_task_remote_exec("echo 'Hello, World!'", "2001:db8::1")
    assert "basename" not in task
    assert task["name"] == "2001_db8__1"
    with pytest.raises(ValueError, match="no basename"):
        get_ref_name(task)
    assert get_ref_name(task, group="task_fn") == "task_fn:2001_db8__1"


def test_get_ref_name_forms() -> None:
    assert get_ref_name("already:full") == "already:full"
    assert get_ref_name({"basename": "my_task", "name": "task_instance"}) == "my_task:task_instance"
    assert get_ref_name({"basename": "solo"}) == "solo"
    loaded = {"name": "my_task:task_instance", "actions": []}  # what doit leaves after loading
    assert get_ref_name(loaded) == "my_task:task_instance"


def test_get_ref_name_survives_doit_loading_the_dict(pool: FakePool) -> None:
    task = gen_task_remote_exec("true", "2001:db8::1", label="probe", is_dep_task=True)
    ref = get_ref_name(task)
    task.pop("basename")  # doit pops basename when it loads a yielded dict
    assert get_ref_name(task) == ref


# --- remote exec ----------------------------------------------------------------------------


def test_remote_exec_callable_gets_address_and_args(pool: FakePool) -> None:
    seen: list[tuple[Any, ...]] = []

    def generate_command(ipv6: str, *args: str) -> str:
        seen.append((ipv6, *args))
        return f"ping {ipv6} {' '.join(args)}"

    task = gen_task_remote_exec(generate_command, "2001:db8::2", args=["-c 5"], label="ping_task")
    assert seen == [("2001:db8::2", "-c 5")]
    assert "basename" not in task
    assert task["name"] == "2001_db8__2"
    assert task_meta(task)["label"] == "ping_task"
    assert run_action(task, pool) is None
    (call,) = [c for c in pool.host("2001:db8::2").calls if c[0] == "exec"]
    assert call[1] == "ping 2001:db8::2 -c 5"
    assert call[2] is None  # no remote_dir: the login home


def test_remote_exec_label_defaults(pool: FakePool) -> None:
    def deploy(ipv6: str) -> list[str]:
        return ["a", "b"]

    task = gen_task_remote_exec(deploy, "2001:db8::1", is_dep_task=True)
    assert task["basename"] == "deploy"
    assert (
        gen_task_remote_exec("true", "2001:db8::1", is_dep_task=True)["basename"] == "remote_exec"
    )


def test_remote_exec_runs_in_private_remote_dir_with_env(pool: FakePool) -> None:
    dep = gen_task_remote_exec("true", "2001:db8::1", label="first", is_dep_task=True)
    task = gen_task_remote_exec(
        ["echo one", "echo two"],
        ConnectionSpec(address="2001:db8::1", port=2222, label="h1"),
        args=["x y"],
        deps=[dep, "other:task"],
        remote_dir="work/dir",
        env={"COLOR": "blue"},
        timeout=5,
    )
    assert task["task_dep"] == ["first:2001_db8__1", "other:task"]
    assert run_action(task, pool) is None
    host = pool.host("h1")
    assert host.calls[0] == ("prepare_dir", "work/dir")  # once, before the first command
    runs = [c for c in host.calls if c[0] == "exec"]
    assert [c[1].splitlines()[-1] for c in runs] == ["echo one", "echo two"]
    assert runs[0][1].startswith("set -- 'x y'\n")
    assert all(c[2] == "/home/fake/work/dir" for c in runs)  # as prepare_dir returned it
    assert runs[0][3] == {
        "COLOR": "blue",
        "RORUNNER_ADDRESS": "2001:db8::1",
        "RORUNNER_HOST": "h1",
        "RORUNNER_PORT": "2222",
        "RORUNNER_REMOTE_DIR": "work/dir",
    }


def test_remote_dir_is_prepared_not_ensured(pool: FakePool) -> None:
    # prepare_dir leaves an existing dir (/tmp) alone; ensure_dir would chmod it.
    task = gen_task_remote_exec("true", "2001:db8::1", remote_dir="/tmp")
    run_action(task, pool)
    calls = pool.host("2001:db8::1").calls
    assert [c[0] for c in calls] == ["prepare_dir", "exec"]
    assert calls[0] == ("prepare_dir", "/tmp")


def test_without_remote_dir_nothing_is_prepared(pool: FakePool) -> None:
    run_action(gen_task_remote_exec("true", "2001:db8::1"), pool)
    assert [c[0] for c in pool.host("2001:db8::1").calls] == ["exec"]


def test_non_zero_exit_is_a_classified_failure(pool: FakePool) -> None:
    host = pool.host("2001:db8::1")
    host.on("", status=3, stderr=b"disk full\n")
    task = gen_task_remote_exec(["false", "never"], "2001:db8::1")
    fail = run_action(task, pool)
    assert isinstance(fail, StepFailure)
    assert fail.exit_status == 3
    error = step_error(fail)
    assert isinstance(error, RemoteFailure)
    assert error.host == "2001:db8::1"
    assert "status 3" in str(error) and "disk full" in str(error)
    assert [c[1] for c in host.calls if c[0] == "exec"] == ["false"]


def test_unreachable_is_a_classified_failure(pool: FakePool) -> None:
    fail = run_action(gen_task_remote_exec("true", "2001:db8::dead"), pool)
    assert isinstance(step_error(fail), UnreachableError)  # type: ignore[arg-type]
    assert step_error(None) is None


def test_log_dir_receives_stdout_and_stderr(pool: FakePool, tmp_path: Path) -> None:
    host = pool.host("2001:db8::1")
    host.on("", stdout=b"out\n", stderr=b"err\n")
    task = gen_task_remote_exec(
        "x", "2001:db8::1", label="rs", is_dep_task=True, log_dir=str(tmp_path)
    )
    assert run_action(task, pool) is None
    assert (tmp_path / "rs.2001_db8__1.stdout").read_bytes() == b"out\n"
    assert (tmp_path / "rs.2001_db8__1.stderr").read_bytes() == b"err\n"


# --- ship -----------------------------------------------------------------------------------


def test_ship_files_moves_and_trees(pool: FakePool, tmp_path: Path) -> None:
    (tmp_path / "tree" / "sub").mkdir(parents=True)
    (tmp_path / "tree" / "sub" / "b.txt").write_text("b")
    (tmp_path / "a.txt").write_text("a")
    task = gen_task_ship_files(
        [str(tmp_path / "a.txt"), str(tmp_path / "tree")],
        "2001:db8::1",
        "ship",
        remote_dir="/srv/app",
        moves=[FileMove(src="t.j2", dest="conf/app.conf", mode=0o600, content=b"rendered")],
    )
    assert task["file_dep"] == [str(tmp_path / "a.txt"), str(tmp_path / "tree" / "sub" / "b.txt")]
    assert run_action(task, pool) is None
    host = pool.host("2001:db8::1")
    prepared = [c[1] for c in host.calls if c[0] == "prepare_dir"]
    assert prepared == ["/srv/app", "/srv/app/conf"]
    assert not [c for c in host.calls if c[0] in ("ensure_dir", "exec")]
    assert ("put", str(tmp_path / "tree"), "/srv/app/tree", None) in host.calls
    assert host.files["/srv/app/a.txt"] == b"a"
    assert host.files["/srv/app/conf/app.conf"] == b"rendered"
    assert ("put_bytes", "/srv/app/conf/app.conf", 0o600) in host.calls


def test_ship_refuses_nothing_to_ship(pool: FakePool) -> None:
    with pytest.raises(ValueError, match="nothing to ship"):
        gen_task_ship_files([], "2001:db8::1", "ship")


# --- local exec -----------------------------------------------------------------------------


def test_local_exec_python_callable(pool: FakePool) -> None:
    def my_function(arg1: int, arg2: int) -> None:
        pass

    task = gen_task_local_exec(my_function, id_args=[10, 20], label="add_task")
    assert task["basename"] == "add_task"
    assert task["name"] == "10_20"
    assert task["actions"] == [(my_function, [10, 20])]
    assert get_ref_name(task) == "add_task:10_20"
    bare = gen_task_local_exec(my_function, [])
    assert bare["basename"] == "my_function" and "name" not in bare
    assert get_ref_name(bare) == "my_function"
    with pytest.raises(ValueError, match="shell commands only"):
        gen_task_local_exec(my_function, [], env={"A": "1"})


def test_local_exec_shell_command(tmp_path: Path) -> None:
    task = gen_task_local_exec(
        'printf "%s|%s|%s|%s" "$1" "$2" "$GREETING" "$(pwd)" > out.txt',
        ["h1", "x y"],
        label="local",
        env={"GREETING": "hi"},
        cwd=str(tmp_path),
        targets=[str(tmp_path / "out.txt")],
    )
    assert task["targets"] == [str(tmp_path / "out.txt")]
    assert run_action(task) is None
    assert (tmp_path / "out.txt").read_text() == f"h1|x y|hi|{tmp_path}"


def test_local_exec_shell_failure_and_timeout(tmp_path: Path) -> None:
    fail = run_action(gen_task_local_exec("echo bad >&2; exit 7", [], meta={"host": "h9"}))
    assert isinstance(fail, StepFailure) and fail.exit_status == 7
    assert isinstance(fail.error, RemoteFailure) and fail.error.host == "h9"
    assert "bad" in str(fail.error)
    slow = gen_task_local_exec("sleep 30", [], timeout=0.5)
    timed_out = run_action(slow)
    assert isinstance(timed_out, StepFailure) and "timed out" in str(timed_out.error)


# --- fetch ----------------------------------------------------------------------------------


def test_fetch_layout(pool: FakePool, tmp_path: Path) -> None:
    local_dir = str(tmp_path / "fetched")
    task = gen_task_fetch_files(
        ["out/result.txt", "/var/log/app.log"],
        "2001:db8::1",
        "fetch",
        remote_dir="/srv/work",
        local_dir=local_dir,
        moves=[FileMove(src="/etc/hostname", dest="meta/hostname")],
    )
    root = Path(local_dir) / "2001:db8::1"
    assert task["targets"] == [
        str(root / "out" / "result.txt"),
        str(root / "var" / "log" / "app.log"),
        str(root / "meta" / "hostname"),
    ]
    host = pool.host("2001:db8::1")
    host.files.update(
        {"/srv/work/out/result.txt": b"r", "/var/log/app.log": b"l", "/etc/hostname": b"h"}
    )
    assert run_action(task, pool) is None
    assert (root / "out" / "result.txt").read_bytes() == b"r"
    assert (root / "var" / "log" / "app.log").read_bytes() == b"l"
    assert (root / "meta" / "hostname").read_bytes() == b"h"


def test_fetch_host_dir_with_port_and_label(pool: FakePool) -> None:
    with_port = gen_task_fetch_files(["a"], "[::1]:2201", "f", local_dir="d")
    assert with_port["targets"] == [os.path.join("d", "[::1]:2201", "a")]
    labelled = gen_task_fetch_files(["a"], ConnectionSpec(address="::1", label="h2"), "f")
    assert labelled["targets"] == [os.path.join("fetched", "h2", "a")]
    rooted = gen_task_fetch_files(["a"], "::1", "f", dest_root="x/y")
    assert rooted["targets"] == [os.path.join("x/y", "a")]


@pytest.mark.parametrize(
    "path", ["../escape", "a/../../escape", "/../../etc/passwd", "/", "..", ".", "a/.."]
)
def test_fetch_refuses_paths_that_escape(pool: FakePool, path: str) -> None:
    with pytest.raises(InputError, match="outside"):
        gen_task_fetch_files([path], "2001:db8::1", "fetch")
    with pytest.raises(InputError, match="outside"):
        gen_task_fetch_files([], "2001:db8::1", "fetch", moves=[FileMove(src="ok", dest=path)])


def test_fetch_normalises_harmless_dots(pool: FakePool) -> None:
    task = gen_task_fetch_files(["/a/./b/../c"], "2001:db8::1", "fetch", local_dir="d")
    assert task["targets"] == [os.path.join("d", "2001:db8::1", "a", "c")]


def test_fetch_refuses_a_local_symlink_that_escapes(pool: FakePool, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "fetched" / "2001:db8::1"
    root.mkdir(parents=True)
    (root / "link").symlink_to(outside)
    pool.host("2001:db8::1").files["/tmp/link/x"] = b"payload"
    task = gen_task_fetch_files(
        ["link/x"], "2001:db8::1", "fetch", local_dir=str(tmp_path / "fetched")
    )
    fail = run_action(task, pool)
    assert isinstance(fail, StepFailure) and "outside" in str(fail.error)
    assert not (outside / "x").exists()


# --- RTAS -----------------------------------------------------------------------------------


def test_rtas_batches_dependencies_and_final_task(pool: FakePool, tmp_path: Path) -> None:
    src = tmp_path / "file1.txt"
    src.write_text("1")

    def local_work_pre_func(ipv6: str, *id_args: str) -> None:
        pass

    gen = doit_task_generator_for_RTAS("my_remote_task", "2001:db8::1", ["arg1", "arg2"])
    assert gen.final_task is None
    tasks = list(
        gen(
            local_steps_pre=local_work_pre_func,
            to_ship_files=[str(src)],
            remote_steps="./run.sh",
            from_ship_files=["result.txt"],
            local_steps_post=[local_work_pre_func, "echo done"],
        )
    )
    refs = [get_ref_name(t) for t in tasks]
    name = "2001_db8__1_arg1_arg2"
    assert refs == [
        f"my_remote_task.{phase}:{name}"
        for phase in ("local_pre", "ship", "remote", "fetch", "local_post")
    ]
    assert [t["task_dep"] for t in tasks] == [[], *[[r] for r in refs[:-1]]]
    assert tasks[0]["actions"] == [(local_work_pre_func, ["2001:db8::1", "arg1", "arg2"])]
    assert len(tasks[-1]["actions"]) == 2
    assert isinstance(gen.final_task, dict)
    assert get_ref_name(gen.final_task) == refs[-1]
    tasks[-1].pop("basename")  # doit consumed the yielded dict; the snapshot still resolves
    assert get_ref_name(gen.final_task) == refs[-1]
    assert tasks[2]["actions"][0].workdir == "/tmp"


def test_rtas_skips_empty_batches_and_refuses_all_empty(pool: FakePool) -> None:
    gen = doit_task_generator_for_RTAS("t", "2001:db8::1", [], remote_work_dir="w")
    tasks = list(gen(local_steps_pre=None, to_ship_files=None, remote_steps="true",
                     from_ship_files=None, local_steps_post=lambda ipv6: None))  # fmt: skip
    assert [get_ref_name(t) for t in tasks] == ["t.remote:2001_db8__1", "t.local_post:2001_db8__1"]
    assert tasks[1]["task_dep"] == ["t.remote:2001_db8__1"]
    with pytest.raises(ValueError, match="every batch is empty"):
        list(gen())


def test_rtas_runs_in_order_under_doit(pool: FakePool, tmp_path: Path) -> None:
    order: list[str] = []
    hosts = ["2001:db8::1", "2001:db8::2"]

    def task_rtas() -> Any:
        for addr in hosts:
            gen = doit_task_generator_for_RTAS("rt", addr, ["x"], remote_work_dir="/tmp/rt")
            yield from gen(
                local_steps_pre=lambda ipv6, x: order.append(f"pre {ipv6} {x}"),
                remote_steps="echo hi",
                local_steps_post=lambda ipv6, x: order.append(f"post {ipv6} {x}"),
            )

    loader = ModuleTaskLoader({"task_rtas": task_rtas, "DOIT_CONFIG": {"verbosity": 0}})
    with installed(pool):  # doit calls the actions without a pool: they take the default
        code = DoitMain(loader).run(["--db-file", str(tmp_path / "db")])
    assert code == 0
    for addr in hosts:
        assert order.index(f"pre {addr} x") < order.index(f"post {addr} x"), order
        remote = [c for c in pool.host(addr).calls if c[0] == "exec"]
        assert [(c[1], c[2]) for c in remote] == [("set -- x\necho hi", "/tmp/rt")]


def test_step_failure_survives_pickling() -> None:
    """doit's process runner sends failures back pickled; the typed error must survive."""
    import pickle

    fail = pickle.loads(pickle.dumps(StepFailure(UnreachableError("h1", "banner timeout"), None)))
    assert isinstance(fail, StepFailure)
    assert isinstance(fail.error, UnreachableError)
    assert (fail.error.host, fail.error.cause, fail.exit_status) == ("h1", "banner timeout", None)
    again = pickle.loads(pickle.dumps(StepFailure(RemoteFailure("h2", "exit 4"), 4)))
    assert isinstance(again.error, RemoteFailure) and again.exit_status == 4


def test_task_dicts_hold_only_plain_data(pool: FakePool, tmp_path: Path) -> None:
    """No live connection in a task: every generated dict pickles, before and after running."""
    import pickle

    src = tmp_path / "a.txt"
    src.write_text("a")
    spec = ConnectionSpec(address="2001:db8::1", port=22, user="root", label="h1")
    tasks = [
        gen_task_ship_files([str(src)], spec, "ship"),
        gen_task_remote_exec(["true", "echo x"], spec, remote_dir="w", env={"A": "1"}),
        gen_task_fetch_files(["out"], spec, "fetch", local_dir=str(tmp_path)),
        gen_task_local_exec("true", ["h1"], env={"B": "2"}),
    ]
    for task in tasks:
        restored = pickle.loads(pickle.dumps(task))
        assert restored["actions"] == task["actions"]
    run_action(tasks[1], pool)
    assert pickle.loads(pickle.dumps(tasks[1]))["actions"] == tasks[1]["actions"]


def test_a_lone_string_or_dict_counts_as_one_item(pool: FakePool, tmp_path: Path) -> None:
    src = tmp_path / "only.txt"
    src.write_text("x")
    dep = gen_task_remote_exec("true", "2001:db8::1", label="d", is_dep_task=True)
    task = gen_task_ship_files(str(src), "2001:db8::1", "ship", id_args="v1", deps=dep)  # type: ignore[arg-type]
    assert task["name"] == "2001_db8__1_v1"
    assert task["file_dep"] == [str(src)]
    assert task["task_dep"] == ["d:2001_db8__1"]
    fetch = gen_task_fetch_files("out.txt", "2001:db8::1", "f", local_dir="d")  # type: ignore[arg-type]
    assert fetch["targets"] == [os.path.join("d", "2001:db8::1", "out.txt")]


def test_env_pairs_are_taken_as_they_are_and_checked(pool: FakePool) -> None:
    """An environment already sorted (as the planner makes them) is used as it is, by local
    and remote generators alike; the defaults still apply beneath it when it lacks them."""
    from rorunner.tasks import EnvPairs

    pairs = (("A", "1"), ("RORUNNER_ADDRESS", "x"), ("RORUNNER_HOST", "h"), ("Z", "2"))
    env = EnvPairs(pairs)
    assert dict(env) == dict(pairs) and "Z" in env and "B" not in env and len(env) == 4
    local = gen_task_local_exec("true", [], env=env)
    assert local["actions"][0].env is env.pairs
    remote = gen_task_remote_exec("true", "2001:db8::1", env=env, remote_dir="/w")
    expected = dict(pairs, RORUNNER_REMOTE_DIR="/w")  # a default it lacks, merged beneath
    assert remote["actions"][0].env == tuple(sorted(expected.items()))
    full = EnvPairs(sorted({**expected, "RORUNNER_PORT": "22"}.items()))
    port = gen_task_remote_exec("true", "[2001:db8::1]:22", env=full, remote_dir="/w")
    assert port["actions"][0].env is full.pairs
    with pytest.raises(ValueError, match="sorted"):
        EnvPairs([("B", "1"), ("A", "2")])
    with pytest.raises(ValueError, match="strings"):
        EnvPairs([("A", 1)])  # type: ignore[list-item]
