"""rorunner.walk: the one way trees are read (links followed, loops and broken links refused)."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest

from rorunner import walk
from rorunner.errors import InputError, Location


def _tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    (root / "sub").mkdir(parents=True)
    (root / "a.txt").write_text("a")
    (root / "sub" / "b.txt").write_text("b")
    (root / "sub" / "b.txt").chmod(0o640)
    return root


def _rels(root: Path) -> list[str]:
    return [entry.rel for entry in walk.walk(str(root))]


def _refused(root: Path, link: Path, message: str) -> None:
    with pytest.raises(InputError, match=message) as caught:
        walk.walk(str(root))
    assert caught.value.location == Location(str(link))


def test_depth_first_sorted_with_modes(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    (root / "sub.txt").write_text("s")
    entries = walk.walk(str(root))
    assert [e.rel for e in entries] == ["", "a.txt", "sub", "sub/b.txt", "sub.txt"]
    assert [e.is_dir for e in entries] == [True, False, True, False, False]
    assert entries[3].mode == 0o640 and entries[3].path == str(root / "sub" / "b.txt")
    assert [e.rel for e in walk.walk_files(str(root))] == ["a.txt", "sub/b.txt", "sub.txt"]
    assert [e.rel for e in walk.list_dir(str(root))] == ["a.txt", "sub", "sub.txt"]


def test_links_are_followed_also_out_of_the_tree_and_twice(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "o.txt").write_text("o")
    (root / "ext").symlink_to(outside)
    (root / "ext2").symlink_to("../outside")  # the same directory again: walked again
    (root / "f.txt").symlink_to(root / "a.txt")
    assert _rels(root) == [
        "",
        "a.txt",
        "ext",
        "ext/o.txt",
        "ext2",
        "ext2/o.txt",
        "f.txt",
        "sub",
        "sub/b.txt",
    ]
    assert walk.walk(str(root))[3].path == str(root / "ext" / "o.txt")


def test_a_link_to_the_tree_itself_is_a_loop_naming_the_link(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    (root / "loop").symlink_to(".")
    _refused(root, root / "loop", r"symlink loop: it points to '\.', which leads back to")


def test_a_link_to_a_parent_is_a_loop_naming_the_link(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    (root / "sub" / "up").symlink_to("..")
    _refused(root, root / "sub" / "up", "symlink loop: it points to '..'")


def test_a_loop_through_a_link_outside_names_the_first_link(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "back").symlink_to(root)
    (root / "ext").symlink_to(outside)
    _refused(root, root / "ext", "symlink loop: it points to '.*outside'")


def test_self_link_and_broken_link_are_refused_by_name(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    (root / "self").symlink_to("self")
    _refused(root, root / "self", "points to 'self', which never resolves")
    (root / "self").unlink()
    (root / "gone").symlink_to("nowhere")
    _refused(root, root / "gone", "broken symlink: it points to 'nowhere', which does not exist")


def test_what_keep_refuses_is_not_examined(tmp_path: Path) -> None:
    """An editor's lock file (`.#a.txt`, a dangling link) in a tree that skips dot-files."""
    root = _tree(tmp_path)
    (root / ".#a.txt").symlink_to("user@host.1234:1")
    visible = walk.walk_files(str(root), lambda path, _: os.path.basename(path)[0] != ".")
    assert [e.rel for e in visible] == ["a.txt", "sub/b.txt"]


def test_a_fifo_is_refused(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    os.mkfifo(root / "pipe")
    _refused(root, root / "pipe", "not a regular file or directory")


def test_lookup(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    (root / "self").symlink_to("self")
    assert walk.lookup(str(tmp_path / "missing")) is None
    found = walk.lookup(str(root / "sub"))
    assert found is not None and found.is_dir
    with pytest.raises(InputError, match="symlink loop"):
        walk.lookup(str(root / "self"))


def test_many_links_to_one_directory_stay_bounded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ten levels of two links each to the next level: 2**10 paths, no loop; the entry cap
    stops the walk with an error instead of letting it grow."""
    levels = [tmp_path / f"d{i}" for i in range(11)]
    for level in levels:
        level.mkdir()
        (level / "f").write_text("x")
    for here, below in itertools.pairwise(levels):
        (here / "x").symlink_to(below)
        (here / "y").symlink_to(below)
    monkeypatch.setattr(walk, "MAX_ENTRIES", 1000)
    with pytest.raises(InputError, match="more than 1000 files and directories") as caught:
        walk.walk(str(levels[0]))
    assert caught.value.location == Location(str(levels[0]))
