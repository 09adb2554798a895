"""What the CLI writes (--out, --report, -o) goes where the path leads: through a link to its
target, into a pipe or a device as it is; and the token is out of it in any escaped form,
the HTTP library's debug log included."""

from __future__ import annotations

import json
import logging
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import httpx
import pytest

from reconciler import output
from reconciler.errors import ReconcilerError
from reconciler.output import REDACTED, redact, writable, write_atomic
from reconciler.settings import TOKEN_ENV

# Both quote kinds: repr then escapes the `'` (\'), and a backslash, which it doubles.
QUOTES = "Zq7'tok\"XYZ\\secret9931abcdef"
# Beyond ASCII: repr keeps é, ascii() writes \xe9, the bytes' repr \xc3\xa9.
ACCENTS = "Zq7tök\u00e9n\u2028XYZsecret9931abcdef"
MARK = "secret9931abcdef"  # a part of each token that every escaping leaves as it is


def use_token(monkeypatch: pytest.MonkeyPatch, token: str) -> None:
    monkeypatch.setenv(TOKEN_ENV, token)


# --- the token in escaped forms -------------------------------------------------------------


class _Echo(BaseHTTPRequestHandler):
    """Answers every request with its X-Auth-Token in a response header, as a misbehaving
    proxy or API error page might."""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("X-Echo", self.headers["X-Auth-Token"])
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def echo_server() -> Iterator[str]:
    server = HTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_a_token_with_both_quotes_echoed_in_a_header_leaves_no_trace_in_httpcores_log(
    echo_server: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    use_token(monkeypatch, QUOTES)
    caplog.set_level(logging.DEBUG, logger="httpcore")
    with httpx.Client() as client:
        assert client.get(echo_server, headers={"X-Auth-Token": QUOTES}).status_code == 200
    log = "\n".join(record.getMessage() for record in caplog.records)
    assert repr(QUOTES.encode())[2:-1] in log  # httpcore logs the header as repr(bytes)

    assert MARK not in redact(log)
    assert REDACTED in redact(log)


@pytest.mark.parametrize("token", [QUOTES, ACCENTS], ids=["quotes", "accents"])
@pytest.mark.parametrize(
    "written",
    [
        repr,
        ascii,
        lambda t: repr(t.encode()),
        # In a longer text that holds both quotes, as a log line's repr of a tuple does.
        lambda t: repr("it's \"" + t),
        lambda t: repr(b"it's \"" + t.encode()),
        lambda t: ascii("it's \"" + t),
        json.dumps,
        lambda t: json.dumps(t, ensure_ascii=False),
    ],
    ids=["repr", "ascii", "bytes", "repr-both", "bytes-both", "ascii-both", "json", "json-utf8"],
)
def test_every_form_python_or_json_writes_the_token_in_is_redacted(
    monkeypatch: pytest.MonkeyPatch, token: str, written: object
) -> None:
    use_token(monkeypatch, token)
    assert callable(written)
    text = f"DEBUG httpcore.http11: headers=[(b'X-Echo', {written(token)})]"
    assert MARK in text
    assert MARK not in redact(text)


# --- where a file is written ----------------------------------------------------------------


def test_a_link_is_written_through_and_stays_a_link(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "tgt").mkdir()
    real = tmp_path / "tgt" / "real.json"
    real.write_text("old\n")
    link = tmp_path / "link.json"
    link.symlink_to("tgt/real.json")
    renamed: list[str] = []
    replace = os.replace

    def spy(src: str, dst: str) -> None:
        renamed.append(src)
        replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)

    writable(str(link))
    write_atomic(link, "new\n")

    assert link.is_symlink() and os.readlink(link) == "tgt/real.json"
    assert real.read_text() == "new\n"
    # Made in the target's own directory, so the rename stays on its file system.
    assert [Path(p).parent for p in renamed] == [real.parent]
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["link.json", "real.json", "tgt"]


def test_a_link_to_nowhere_yet_creates_its_target(tmp_path: Path) -> None:
    link = tmp_path / "plan.json"
    link.symlink_to("saved.json")
    writable(str(link))
    write_atomic(link, "{}\n")
    assert link.is_symlink() and (tmp_path / "saved.json").read_text() == "{}\n"


def test_a_fifo_is_written_into_not_replaced(tmp_path: Path) -> None:
    fifo = tmp_path / "plan.fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # a reader: opening to write won't wait
    try:
        writable(str(fifo))
        write_atomic(fifo, "through the pipe\n")
        assert stat.S_ISFIFO(os.stat(fifo).st_mode)
        assert os.read(reader, 1000) == b"through the pipe\n"
    finally:
        os.close(reader)


def test_a_pipe_nobody_reads_is_an_error_at_once_not_a_hang(tmp_path: Path) -> None:
    # Opening a pipe to write waits for a reader: after an apply's writes, for ever.
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    failed: list[ReconcilerError] = []

    def write() -> None:
        try:
            write_atomic(fifo, "{}")
        except ReconcilerError as exc:
            failed.append(exc)

    writer = threading.Thread(target=write, daemon=True)
    writer.start()
    writer.join(timeout=10)
    if writer.is_alive():  # it waits for a reader: give it one, so the thread ends
        os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
        pytest.fail("writing to a pipe nobody reads waited for a reader")
    assert [e.message for e in failed] == [
        f"could not write {fifo}: no process is reading the pipe"
    ]


def test_our_own_redirected_stdout_is_appended_to_not_truncated(tmp_path: Path) -> None:
    # `plan --out /dev/stdout >> log`: the JSON follows what stdout wrote, the log's
    # earlier lines stay.
    log = tmp_path / "log.txt"
    log.write_text("earlier\n")
    code = (
        "import sys\n"
        "from pathlib import Path\n"
        "from reconciler.output import write_atomic\n"
        "print('text', flush=True)\n"
        "write_atomic(Path('/proc/self/fd/1'), 'json\\n')\n"
        "print('after')\n"
    )
    with log.open("a") as out:
        subprocess.run([sys.executable, "-c", code], stdout=out, check=True)
    assert log.read_text() == "earlier\ntext\njson\nafter\n"


def test_a_failed_write_to_our_own_stdout_is_an_error_and_truncates_nothing(
    tmp_path: Path,
) -> None:
    # The log may not grow (a full disk; here a file-size limit): said, and the log's
    # earlier lines stay (a second try by opening the path would truncate them).
    log = tmp_path / "log.txt"
    log.write_text("earlier line\n" * 512)  # 6,144 bytes: the limit below
    code = (
        "from pathlib import Path\n"
        "from reconciler.errors import ReconcilerError\n"
        "from reconciler.output import write_atomic\n"
        "try:\n"
        "    write_atomic(Path('/proc/self/fd/1'), 'x' * 100_000)\n"
        "except ReconcilerError as exc:\n"
        "    raise SystemExit(exc.message)\n"
    )
    command = f'ulimit -f 6; "{sys.executable}" -c "{code}" >> "{log}"'
    proc = subprocess.run(["bash", "-c", command], capture_output=True, text=True)
    assert proc.returncode == 1
    assert proc.stderr.startswith("could not write /proc/self/fd/1: File too large")
    assert log.read_text().startswith("earlier line\n" * 512)


def test_a_device_node_is_written_in_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A stand-in: a regular file that stat reports as a character device (as /dev/full
    # would be), so only the decision is tested, never a real device.
    device = tmp_path / "full"
    device.write_text("")
    inode = device.stat().st_ino
    real_stat = os.stat

    def as_device(path: str | Path, *, follow_symlinks: bool = True) -> os.stat_result:
        info = real_stat(path, follow_symlinks=follow_symlinks)
        if os.fspath(path) != str(device):
            return info
        fields = list(info)
        fields[0] = stat.S_IFCHR | 0o666
        return os.stat_result(fields)

    monkeypatch.setattr(os, "stat", as_device)
    writable(str(device))
    write_atomic(device, "written in place\n")
    monkeypatch.undo()

    assert device.stat().st_ino == inode  # the same node, not a file renamed over it
    assert device.read_text() == "written in place\n"
    assert os.listdir(tmp_path) == ["full"]


def test_a_descriptors_path_writes_to_the_open_file(tmp_path: Path) -> None:
    """/dev/stdout redirected to a file is such a path (through /proc/self/fd): replacing
    the file would leave the shell's descriptor on a deleted one."""
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc")
    opened = tmp_path / "redirected.txt"
    with opened.open("w") as fh:
        path = Path(f"/proc/self/fd/{fh.fileno()}")
        assert output._through_proc(str(path))
        write_atomic(path, "to the descriptor\n")
    assert opened.read_text() == "to the descriptor\n"
    assert os.listdir(tmp_path) == ["redirected.txt"]


def test_only_paths_through_proc_count_as_descriptors(tmp_path: Path) -> None:
    link = tmp_path / "out"
    link.symlink_to("/proc/self/fd/1")
    assert output._through_proc(str(link))
    assert not output._through_proc(str(tmp_path / "plain.json"))


def test_a_replaced_file_keeps_its_permissions(tmp_path: Path) -> None:
    private = tmp_path / "report.json"
    private.write_text("old\n")
    private.chmod(0o600)
    write_atomic(private, "new\n")
    assert stat.S_IMODE(private.stat().st_mode) == 0o600

    fresh = tmp_path / "fresh.json"
    write_atomic(fresh, "new\n")
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~umask


def test_a_link_to_a_directory_or_a_link_loop_is_refused_before_the_work(tmp_path: Path) -> None:
    (tmp_path / "dir").mkdir()
    to_dir = tmp_path / "to-dir"
    to_dir.symlink_to("dir")
    loop = tmp_path / "loop"
    loop.symlink_to("loop")
    with pytest.raises(ReconcilerError, match=r"it is a directory$"):
        writable(str(to_dir))
    with pytest.raises(ReconcilerError, match=r"^cannot write .*loop: Too many levels"):
        writable(str(loop))


def test_a_missing_folder_is_named_as_the_user_wrote_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ReconcilerError) as caught:
        writable("missing/plan.json")
    assert str(caught.value) == "cannot write missing/plan.json: there is no directory missing"
