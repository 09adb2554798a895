"""A config directory is read whole or refused: a subdirectory that cannot be read is an
error naming it (never a team's segments silently dropping out, to read as unmanaged),
linked directories are followed, and a path that is no file is refused, not waited on."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from reconciler.config import LoadResult, validate_config
from reconciler.sources import expand, validate_sources


def segment_file(folder: Path, name: str, file: str | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (file or f"{name.lower()}.yaml")
    path.write_text(f"version: 1\nsegments:\n  - name: {name}\n    shopper_profiles: []\n")
    return path


def names(result: LoadResult) -> list[str | None]:
    assert result.state is not None, [str(p) for p in result.problems]
    return [s.name for s in result.state.segments]


def errors(result: LoadResult) -> list[str]:
    assert result.state is None
    return [str(p) for p in result.errors]


@pytest.fixture
def teams(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    segment_file(tmp_path / "d4" / "team1", "A")
    segment_file(tmp_path / "d4" / "team2", "B")
    return Path("d4")


def refuse_listing(monkeypatch: pytest.MonkeyPatch, folder: str) -> None:
    """os.scandir of `folder` fails as it would without read permission, even for root
    (which reads anything, so chmod alone cannot show this where tests run as root)."""
    scandir = os.scandir

    def guarded(path: str) -> Iterator[os.DirEntry[str]]:
        if os.path.normpath(path) == folder:
            raise PermissionError(13, "Permission denied", path)
        return scandir(path)

    monkeypatch.setattr(os, "scandir", guarded)


def test_an_unreadable_subdirectory_is_an_error_naming_it(
    teams: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    refuse_listing(monkeypatch, "d4/team2")
    assert errors(validate_sources(["d4"])) == [
        "d4/team2: permission denied; cannot read the directory"
    ]


def test_an_unreadable_directory_given_itself_is_an_error(
    teams: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    refuse_listing(monkeypatch, "d4")
    assert errors(validate_sources(["d4"])) == ["d4: permission denied; cannot read the directory"]


def test_a_directory_without_read_permission_is_an_error(teams: Path) -> None:
    locked = teams / "team2"
    locked.chmod(0)
    try:
        if os.access(locked, os.R_OK) or _lists(locked):
            pytest.skip("this user reads any directory (root)")
        assert errors(validate_sources(["d4"])) == [
            "d4/team2: permission denied; cannot read the directory"
        ]
    finally:
        locked.chmod(0o755)


def _lists(folder: Path) -> bool:
    try:
        os.listdir(folder)
    except PermissionError:
        return False
    return True


def test_a_linked_directory_is_followed(teams: Path, tmp_path: Path) -> None:
    segment_file(tmp_path / "elsewhere" / "team3", "C")
    (teams / "linked").symlink_to("../elsewhere/team3")
    assert names(validate_sources(["d4"])) == ["C", "A", "B"]  # d4/linked sorts first


def test_a_link_loop_ends_and_reads_each_file_once(teams: Path) -> None:
    (teams / "team1" / "up").symlink_to("..")
    assert names(validate_sources(["d4"])) == ["A", "B"]
    assert names(validate_sources(["d4/team1"])) == ["A", "B"]  # through d4/team1/up


def test_files_are_read_in_sorted_order_whatever_the_walk_gives(teams: Path) -> None:
    segment_file(teams, "Z", "0-first.yml")
    segment_file(teams / "team1" / "deeper", "Y")
    files, problems = expand(["d4"])
    assert files == sorted(files) and not problems
    assert names(validate_sources(["d4"])) == ["Z", "A", "Y", "B"]


def test_an_empty_directory_is_said_to_hold_no_config_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "emptydir" / "sub").mkdir(parents=True)
    (tmp_path / "emptydir" / "notes.txt").write_text("")
    assert errors(validate_sources(["emptydir"])) == ["emptydir: holds no *.yaml or *.yml files"]


# --- a path that is no file -----------------------------------------------------------------


def test_a_pipe_named_on_purpose_is_read_as_a_file(tmp_path: Path) -> None:
    # `-f <(generate)` and `-f /dev/stdin` are pipes: read, as cat would.
    fifo = tmp_path / "some.fifo"
    os.mkfifo(fifo)
    text = "version: 1\nsegments:\n  - name: VIP\n    shopper_profiles: []\n"
    writer = threading.Thread(target=lambda: fifo.write_text(text), daemon=True)
    writer.start()
    result = validate_config(fifo)
    writer.join(timeout=10)
    assert result.problems == [] and result.state is not None
    assert [s.name for s in result.state.segments] == ["VIP"]


def test_a_fifo_in_a_config_directory_is_refused_not_skipped(
    teams: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    os.mkfifo(teams / "team1" / "c.yaml")
    assert errors(validate_sources(["d4"])) == [
        "d4/team1/c.yaml: is a pipe (FIFO), not a config file"
    ]


def test_a_link_to_nothing_or_a_loop_in_a_directory_is_named_not_an_internal_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cfg" / "team").mkdir(parents=True)
    (tmp_path / "cfg" / "a.yaml").write_text("version: 1\nsegments: []\n")
    (tmp_path / "cfg" / "team" / "dangling.yaml").symlink_to("nothere.yaml")
    (tmp_path / "cfg" / "team" / "self.yaml").symlink_to("self.yaml")
    assert errors(validate_sources(["cfg"])) == [
        "cfg/team/dangling.yaml: no such file",
        "cfg/team/self.yaml: cannot read the file (Too many levels of symbolic links)",
    ]
