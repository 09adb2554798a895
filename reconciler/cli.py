"""The command line: parse options, call one core function, print, return an exit code.

`main` is the one place where exceptions become user messages and exit codes:
0 success; 1 error (usage errors included); 2 only from `plan --detailed-exitcode`
when there are changes; 130 interrupted."""

from __future__ import annotations

import gc
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click

from reconciler import __version__
from reconciler.client import ClientSettings
from reconciler.config import LoadResult
from reconciler.errors import ApplyInterruptedError, ConfigError, GuardError, ReconcilerError
from reconciler.model import DesiredState, Problem
from reconciler.output import redact, redacted_output, writable, write_atomic
from reconciler.plan import Plan
from reconciler.render.apply_report import apply_report_document, render_apply_summary
from reconciler.render.json import render_json
from reconciler.render.masking import masked
from reconciler.render.text import render_text
from reconciler.render.visible import visible
from reconciler.settings import access_token, client_settings, resolve_store_hash
from reconciler.sources import validate_sources

EXIT_OK, EXIT_ERROR, EXIT_CHANGES, EXIT_INTERRUPTED = 0, 1, 2, 130
DEFAULT_CONFIG = "segments.yaml"


class RedactingFormatter(logging.Formatter):
    """Defence in depth: whatever a library logs (tracebacks, httpcore's reprs of headers
    included), the token in any of its written forms is replaced in the final text,
    whatever stream the handler ends up writing to."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def _setup_logging(verbose: int) -> None:
    """-v: reconciler's own details, each request as `METHOD path -> status (ms)` (never a
    header); -vv: also httpx's request log; -vvv: also httpx/httpcore debug internals."""
    level = logging.WARNING if verbose == 0 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(RedactingFormatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    library = {0: logging.WARNING, 1: logging.WARNING, 2: logging.INFO}.get(verbose, logging.DEBUG)
    for name in ("httpx", "httpcore", "asyncio"):
        logging.getLogger(name).setLevel(library)


def _use_color(no_color: bool) -> bool:
    return (
        not no_color
        and "NO_COLOR" not in os.environ
        and not _in_github_actions()  # CI logs keep escape codes as noise
        and sys.stdout is not None  # started with the descriptor closed
        and sys.stdout.isatty()
    )


def _in_github_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def _in_ci() -> bool:
    """CI logs are read by more people than the terminal (on a public repository, by
    anyone): emails are masked there. Every major CI service sets CI=true."""
    return _in_github_actions() or os.environ.get("CI", "").lower() not in ("", "0", "false")


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _annotation(problem: Problem) -> str:
    """A GitHub Actions workflow command, so the problem shows on the PR's diff."""
    kind = "error" if problem.is_error else "warning"
    loc = problem.location
    props = (
        f" file={_escape_property(visible(loc.file))},line={loc.line},col={loc.column}"
        if loc
        else ""
    )
    return f"::{kind}{props}::{_escape_data(visible(problem.message))}"


def _print_problems(problems: list[Problem]) -> None:
    for problem in problems:
        click.echo(visible(str(problem)), err=True)
    if _in_github_actions():
        for problem in problems:
            # stderr, as GitHub reads commands on both: stdout may be a JSON or markdown plan.
            click.echo(_annotation(problem), err=True)


def _sources(paths: Sequence[str]) -> LoadResult:
    """The config files checked, searched for the token's value when it is set."""
    return validate_sources(paths, secret=access_token() or None)


def _load(paths: tuple[str, ...]) -> LoadResult:
    result = _sources(paths)
    if result.errors or result.state is None:
        raise ConfigError(result.problems)
    _print_problems(result.warnings)
    # The config (and every module) lives until the process ends: freezing it out of the
    # cyclic GC spares each full collection a walk over its member sets, which held up
    # every request for 20-30 ms in the middle of a 100,000-member read. run() unfreezes.
    gc.freeze()
    return result


def _settings(
    store_hash: str | None,
    from_config: str | None,
    rate_reserve: int = 0,
    *,
    reads_config: bool = True,
) -> ClientSettings:
    chosen = resolve_store_hash(store_hash, from_config, reads_config=reads_config)
    return client_settings(chosen, rate_reserve=rate_reserve)


config_option = click.option(
    "-f",
    "--file",
    "config_file",
    multiple=True,
    default=(DEFAULT_CONFIG,),
    show_default=True,
    help="A config file, or a directory of *.yaml files; may be given several times.",
)
store_option = click.option(
    "--store-hash",
    default=None,
    help="Store hash; overrides BIGCOMMERCE_STORE_HASH and the config's store_hash.",
)
color_option = click.option("--no-color", is_flag=True, help="Plain output without colour.")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="reconciler")
@click.option(
    "-v",
    "--verbose",
    count=True,
    help="-v: each request (method, path, status; never a header); -vv, -vvv: more.",
)
def cli(verbose: int) -> None:
    """BigCommerce customer-segment membership managed as code."""
    _setup_logging(verbose)


@cli.command()
@config_option
@click.argument("files", nargs=-1, type=click.Path())
def validate(config_file: tuple[str, ...], files: tuple[str, ...]) -> int:
    """Check the config offline: syntax, schema, duplicates. Exit 0 valid, 1 invalid.

    FILES (as pre-commit passes them) are checked together, like several -f."""
    explicit = _given("config_file")
    # -f given with FILES is checked with them, not dropped: that would be a false "valid".
    paths = (*config_file, *files) if explicit and files else files or config_file
    result = _sources(paths)
    _print_problems(result.problems)
    shown = visible(", ".join(paths))
    if result.errors or result.state is None:
        click.echo(f"{shown}: {len(result.errors)} error(s)", err=True)
        return EXIT_ERROR
    members = sum(len(s.profiles) + len(s.customers) for s in result.state.segments)
    segments = len(result.state.segments)
    click.echo(
        f"{shown}: valid ({segments} segment{'' if segments == 1 else 's'}, "
        f"{members} member{'' if members == 1 else 's'})"
    )
    return EXIT_OK


def _given(option: str) -> bool:
    """Whether the user gave `option` (its value is not the default)."""
    source = click.get_current_context().get_parameter_source(option)
    return source is not None and source is not click.core.ParameterSource.DEFAULT


def _markdown(plan: Plan, show_emails: bool) -> str:
    from reconciler.render.markdown import render_markdown

    return render_markdown(plan, show_emails=show_emails, emails=getattr(plan, "emails", None))


def _emit_plan(plan: Plan, fmt: str, no_color: bool, show_emails: bool) -> None:
    # In CI the printed plan masks emails, as the PR comment does; --out keeps them.
    shown = masked(plan) if _in_ci() and not show_emails else plan
    if fmt == "json":
        click.echo(render_json(shown), nl=False)
    elif fmt == "markdown":
        click.echo(_markdown(plan, show_emails), nl=False)  # masks unless show_emails
    else:
        click.echo(render_text(shown, color=_use_color(no_color)), nl=False)


def _step_summary(plan: Plan, show_emails: bool) -> None:
    """In GitHub Actions, the plan also goes to the job's summary page."""
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if _in_github_actions() and target:
        try:
            with open(target, "a", encoding="utf-8") as fh:
                fh.write(redact(_markdown(plan, show_emails) + "\n"))
        except OSError as exc:  # the plan itself was made and shown: its exit code stands
            logging.getLogger("reconciler").warning(
                "could not write the step summary (GITHUB_STEP_SUMMARY): %s",
                exc.strerror or type(exc).__name__,
            )


format_option = click.option(
    "--format",
    "fmt",
    type=click.Choice(["text", "json", "markdown"]),
    default="text",
    show_default=True,
    help="Plan output format; markdown is for pull-request comments.",
)
emails_option = click.option(
    "--show-emails",
    is_flag=True,
    help="Show emails in full where they are masked (j***@example.com): in markdown, and "
    "in the plan in any format in CI (CI or GITHUB_ACTIONS set).",
)


class _Reserve(click.ParamType):
    """A whole number of requests, 0 or more. Unlike click's own types, a bad value is not
    echoed: it can come from the environment, where a token may be pasted by mistake."""

    name = "integer"

    def convert(
        self, value: object, param: click.Parameter | None, ctx: click.Context | None
    ) -> int:
        try:
            number = value if type(value) is int else int(str(value).strip())
        except ValueError:
            number = -1
        if number < 0:
            self.fail("must be a whole number of requests, 0 or more", param, ctx)
        return number


reserve_option = click.option(
    "--rate-reserve",
    type=_Reserve(),
    default=0,
    show_default=True,
    metavar="N",
    # Set once for a store's CI jobs rather than repeated in each workflow step.
    envvar="RECONCILER_RATE_RESERVE",
    show_envvar=True,
    help="Leave N requests of every rate-quota window to the store's other apps.",
)


@cli.command()
@config_option
@store_option
@format_option
@color_option
@emails_option
@reserve_option
@click.option(
    "--detailed-exitcode",
    is_flag=True,
    help="Exit 0 when there are no changes, 2 when there are, 1 on error.",
)
@click.option(
    "--out",
    "out_file",
    type=click.Path(dir_okay=False),
    help="Also save the plan as JSON, for `show` and `apply FILE`.",
)
def plan(
    config_file: tuple[str, ...],
    store_hash: str | None,
    fmt: str,
    no_color: bool,
    show_emails: bool,
    rate_reserve: int,
    detailed_exitcode: bool,
    out_file: str | None,
) -> int:
    """Show what apply would change. Never writes to the store."""
    from reconciler.runner import make_plan, run_with_client

    writable(out_file)
    desired = _load(config_file).state
    assert desired is not None
    settings = _settings(store_hash, desired.store_hash, rate_reserve)
    result = run_with_client(settings, lambda client: make_plan(client, desired))
    if out_file:
        write_atomic(Path(out_file), render_json(result))
    _emit_plan(result, fmt, no_color, show_emails)
    _step_summary(result, show_emails)
    return EXIT_CHANGES if detailed_exitcode and result.has_changes else EXIT_OK


@cli.command()
@click.argument("plan_file", type=click.Path(dir_okay=False))
@format_option
@color_option
@emails_option
def show(plan_file: str, fmt: str, no_color: bool, show_emails: bool) -> int:
    """Render a saved plan exactly as `plan` did."""
    from reconciler.planfile import load

    _emit_plan(load(plan_file), fmt, no_color, show_emails)
    return EXIT_OK


def _confirm(store: str) -> bool:
    if not sys.stdin.isatty():
        raise ReconcilerError(
            "apply needs a confirmation: run it in a terminal, or pass --auto-approve "
            "(as CI does after the plan was reviewed)"
        )
    click.echo(
        f'\nDo you want to perform these actions in store "{store}"?\n'
        "  Only 'yes' will be accepted to approve.\n"
    )
    click.echo("  Enter a value: ", nl=False)
    answer = sys.stdin.readline()  # "" at end of input (Ctrl-D): not a yes, a cancel
    if not answer:
        click.echo()
    return answer.strip() == "yes"


@cli.command()
@click.argument("plan_file", required=False, type=click.Path(dir_okay=False))
@config_option
@store_option
@color_option
@emails_option
@reserve_option
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--allow-removals",
    type=int,
    default=None,
    metavar="N",
    help="Lift the removal guard; N must equal the plan's total removal count.",
)
@click.option(
    "--report",
    "report_file",
    type=click.Path(dir_okay=False),
    help="Write a JSON record of every change attempted and its result.",
)
def apply(
    plan_file: str | None,
    config_file: tuple[str, ...],
    store_hash: str | None,
    no_color: bool,
    show_emails: bool,
    rate_reserve: int,
    auto_approve: bool,
    allow_removals: int | None,
    report_file: str | None,
) -> int:
    """Make the store match the config (or apply a saved plan exactly)."""
    from reconciler.apply import Applier
    from reconciler.client import BigCommerceClient
    from reconciler.progress import ProgressReporter
    from reconciler.runner import (
        Interrupts,
        check_fresh,
        check_store,
        make_plan,
        run_interruptible,
    )

    writable(report_file)
    saved: Plan | None = None
    desired: DesiredState | None = None
    if plan_file:
        from reconciler.planfile import load

        if _given("config_file"):
            # Taken silently, it would look like a check that the plan matches the config.
            raise click.UsageError(
                "-f/--file does not go with a saved plan: the plan holds the changes to apply"
            )

        saved = load(plan_file)
        settings = _settings(store_hash, saved.store_hash, rate_reserve)
        check_store(saved, settings)
    else:
        desired = _load(config_file).state
        assert desired is not None
        settings = _settings(store_hash, desired.store_hash, rate_reserve)
    reporter = ProgressReporter()
    outcome: dict[str, Any] = {}

    def notify_stop() -> None:
        click.echo(
            "\nInterrupt received: finishing the requests in flight, sending no more. "
            "Press Ctrl-C again to stop at once.",
            err=True,
        )

    async def body(interrupts: Interrupts) -> int:
        async with BigCommerceClient(settings) as client:
            if saved is not None:
                current = saved
                await check_fresh(client, current)
            else:
                assert desired is not None
                current = await make_plan(client, desired)
                _emit_plan(current, "text", no_color, show_emails)
            outcome["plan"] = current
            if not current.has_changes:
                if saved is not None:
                    click.echo("No changes: the saved plan holds nothing to apply.")
                return EXIT_OK
            if not current.guard_allows(allow_removals):
                raise GuardError(_guard_message(current, allow_removals))
            if saved is None and not auto_approve:
                with interrupts.waiting_for_input():
                    approved = _confirm(settings.store_hash)
                if not approved:
                    click.echo("Apply cancelled; nothing was changed.")
                    return EXIT_ERROR
            interrupts.writing = True
            applier = Applier(client, current, stop=interrupts.stop, on_progress=reporter)
            outcome["applier"] = applier
            outcome["result"] = await applier.run()
            return EXIT_OK

    unwritten: str | None = None
    cut: ApplyInterruptedError | None = None
    try:
        code = run_interruptible(body, notify_stop)
    except ApplyInterruptedError as exc:
        if "applier" not in outcome:
            raise  # stopped before any write: nothing to report
        # Stopped at once by a second interrupt: still say, and record, what was done.
        cut, code = exc, EXIT_INTERRUPTED
        outcome["result"] = outcome["applier"].abandoned()
    finally:
        reporter.close()
    if "result" not in outcome:
        return code
    result = outcome["result"]
    # The summary first: should the report's file hang or fail, what was done is said.
    click.echo(render_apply_summary(result), nl=False)
    if report_file:
        doc = apply_report_document(outcome["plan"], result)
        try:
            write_atomic(Path(report_file), json.dumps(doc, indent=2) + "\n")
        except ReconcilerError as exc:
            unwritten = exc.message
    if unwritten is not None:
        click.echo(f"Error: {visible(unwritten)}", err=True)
    if cut is not None:
        click.echo(f"Error: {visible(cut.message)}", err=True)
    if result.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if result.ok and unwritten is None else EXIT_ERROR


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Loopback address to bind.")
@click.option("--port", default=8787, show_default=True, type=int)
@click.option(
    "--state",
    "state_file",
    type=click.Path(dir_okay=False),
    help="JSON file the store persists in (created when missing).",
)
@click.option(
    "--seed-from",
    "seed_config",
    type=click.Path(dir_okay=False),
    help="Fill a new store so that this config shows changes.",
)
@click.option(
    "--token",
    default="sandbox-token",
    show_default=True,
    help="The token the sandbox accepts (a test value, not a secret).",
)
@click.option("--store-hash", default="sandbox", show_default=True)
@click.option("--quota", type=int, default=None, help="Requests per window (default: no limit).")
@click.option("--window-ms", type=int, default=30_000, show_default=True)
@click.option(
    "--latency-ms",
    type=int,
    default=0,
    show_default=True,
    help="Time from each request to its answer (the emulator's own work included).",
)
@click.option(
    "--log",
    "log_file",
    type=click.Path(dir_okay=False),
    help="Append one JSON line per request (never a header or the token).",
)
@click.option("--error-rate", type=float, default=0.0, help="Fraction of requests answered 5xx.")
@click.option(
    "--error-statuses", default="500,502,503", show_default=True, help="The 5xx codes to use."
)
@click.option(
    "--rate-429", type=float, default=0.0, help="Fraction answered 429 with rate-limit headers."
)
@click.option(
    "--rate-429-bare", type=float, default=0.0, help="Fraction answered 429 without them."
)
@click.option(
    "--lost-response-rate",
    type=float,
    default=0.0,
    help="Fraction handled (writes committed), then closed without a response.",
)
@click.option(
    "--drop-rate", type=float, default=0.0, help="Fraction handled, then cut off mid-response."
)
@click.option(
    "--slow-rate", type=float, default=0.0, help="Fraction handled, then answered after --slow-ms."
)
@click.option("--slow-ms", type=int, default=2000, show_default=True)
@click.option("--jitter-ms", type=int, default=0, help="Random extra delay 0..MS per request.")
@click.option("--fail-nth", default="", metavar="N,N,...", help="Requests (1-based) that fail.")
@click.option(
    "--nth-fault",
    type=click.Choice(["error", "429", "429_bare", "lost", "drop", "slow"]),
    default="error",
    show_default=True,
    help="How the --fail-nth requests fail.",
)
@click.option("--fault-seed", type=int, default=None, help="Seed for repeatable faults.")
@click.option(
    "--unknown-segment-status",
    type=click.Choice(["404", "422"]),
    default="404",
    show_default=True,
    help="How an unknown segment is answered (the API may use either).",
)
def sandbox(
    host: str,
    port: int,
    state_file: str | None,
    seed_config: str | None,
    token: str,
    store_hash: str,
    quota: int | None,
    window_ms: int,
    latency_ms: int,
    log_file: str | None,
    error_rate: float,
    error_statuses: str,
    rate_429: float,
    rate_429_bare: float,
    lost_response_rate: float,
    drop_rate: float,
    slow_rate: float,
    slow_ms: int,
    jitter_ms: int,
    fail_nth: str,
    nth_fault: str,
    fault_seed: int | None,
    unknown_segment_status: str,
) -> int:
    """Run the local emulator of the BigCommerce segmentation API."""
    from reconciler.demo import seed_from_config
    from reconciler.sandbox.faults import FaultConfig, parse_request_numbers, parse_statuses
    from reconciler.sandbox.server import run_sandbox
    from reconciler.sandbox.store import SandboxStore

    faults = FaultConfig(
        error_rate=error_rate,
        error_statuses=parse_statuses(error_statuses),
        rate_429=rate_429,
        rate_429_bare=rate_429_bare,
        lost_response_rate=lost_response_rate,
        drop_mid_response_rate=drop_rate,
        slow_rate=slow_rate,
        slow_response_s=slow_ms / 1000,
        jitter_ms=jitter_ms,
        fail_nth=parse_request_numbers(fail_nth),
        nth_fault=nth_fault,
        seed=fault_seed,
    )

    seed: SandboxStore | None = None
    if seed_config and not (state_file and Path(state_file).exists()):
        desired = _load((seed_config,)).state
        assert desired is not None
        seed = SandboxStore()
        seed_from_config(seed, desired)
    run_sandbox(
        host=host,
        port=port,
        state_file=Path(state_file) if state_file else None,
        token=token,
        store_hash=store_hash,
        quota=quota,
        window_ms=window_ms,
        latency_ms=latency_ms,
        log_file=Path(log_file) if log_file else None,
        seed=seed,
        faults=faults,
        unknown_segment_status=int(unknown_segment_status),
        announce=click.echo,  # flushes, so a supervising process sees the URL at once
    )
    return EXIT_OK


@cli.command()
@click.option(
    "-f",
    "--file",
    "config_file",
    default="segments.yaml.example",
    show_default=True,
    help="The config to demonstrate.",
)
def demo(config_file: str) -> int:
    """Plan, apply and plan again against a seeded sandbox, then stop it."""
    from reconciler.demo import run_demo

    desired = _load((config_file,)).state
    assert desired is not None
    return run_demo(config_file, desired, run, click.echo)


@cli.command()
@store_option
@reserve_option
@click.option(
    "--segment",
    "segment_names",
    multiple=True,
    metavar="NAME",
    help="Export only this segment; may be given several times. Default: every segment.",
)
@click.option(
    "-o",
    "--out",
    "out_file",
    type=click.Path(dir_okay=False),
    help="Write the config to FILE instead of standard output.",
)
@click.option(
    "--as",
    "member_form",
    type=click.Choice(["uuid", "customer_id", "email"]),
    default="uuid",
    show_default=True,
    help="Write members as shopper profile UUIDs, customer ids or emails.",
)
def export(
    store_hash: str | None,
    rate_reserve: int,
    segment_names: tuple[str, ...],
    out_file: str | None,
    member_form: str,
) -> int:
    """Write the store's live segments as a commented segments.yaml.

    Plan against the same store then says `No changes.`: adopt reconciler in one step."""
    from reconciler.export import export_config
    from reconciler.runner import run_with_client

    writable(out_file)
    if out_file is None and sys.stdout is None:
        raise ReconcilerError("standard output is closed: give a file with -o FILE")
    settings = _settings(store_hash, None, rate_reserve, reads_config=False)
    text, summary = run_with_client(
        settings, lambda client: export_config(client, segment_names, member_form)
    )
    if out_file:
        write_atomic(Path(out_file), text)
        click.echo(f"{summary[:-1]} to {out_file}.", err=True)
    else:
        click.echo(text, nl=False)
        click.echo(summary, err=True)
    return EXIT_OK


def _guard_message(plan: Plan, allow_removals: int | None) -> str:
    reasons = "; ".join(str(v) for v in plan.guard_violations())
    if allow_removals is not None:
        return (
            f"{reasons}. --allow-removals {allow_removals} does not match the plan's "
            f"{plan.remove_count} removals; nothing was changed"
        )
    return (
        f"{reasons}. Nothing was changed; if these removals are intended, run apply with "
        f"--allow-removals {plan.remove_count}"
    )


def main(argv: list[str] | None = None) -> NoReturn:
    code = run(argv)
    if sys.gettrace() or sys.getprofile():  # coverage or a profiler writes at exit
        sys.exit(code)
    # Skip the interpreter's teardown, which frees every object one by one (50-80 ms after
    # a plan of 100,000 members) when the process is about to end anyway; mypy does the
    # same. Nothing else is pending: files are closed and the client's threads joined.
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):  # None when started with the descriptor closed
        try:
            if stream is not None:
                stream.flush()
        except OSError:  # a closed pipe (`plan | head`): what was read was written
            pass
    os._exit(code)


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and map every outcome to an exit code; never lets a traceback out.
    Whatever it prints passes output.redact on the way out."""
    _tolerant_streams()
    with redacted_output():
        return _run(argv)


def _tolerant_streams() -> None:
    """A segment name the terminal's encoding cannot show (`VIP 会员` on cp1252) is
    written escaped (`\u4f1a`), not turned into an internal error half-way through."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")


def _interrupt(signum: int, frame: object) -> None:
    # SIGTERM taken for SIGINT: inside asyncio.run the runner's own SIGINT handler then
    # cancels the main task cleanly. A KeyboardInterrupt raised here instead could land
    # inside any task's code (httpx's, anyio's) and leave it unable to finish cancelling.
    signal.raise_signal(signal.SIGINT)


@contextmanager
def _signals_interrupt() -> Iterator[None]:
    """Ctrl-C and SIGTERM (a cancelled CI job) raise KeyboardInterrupt, which _run turns
    into a sentence and exit 130 (SIGTERM would otherwise end it silently with 143).
    Entered inside _run's try, so no signal falls between the handler and the except.
    Apply installs its own handling while it runs (runner.py)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signals reach the main thread only
        return
    previous = {
        sig: signal.signal(sig, handler) or signal.SIG_DFL
        for sig, handler in (
            (signal.SIGINT, signal.default_int_handler),
            (signal.SIGTERM, _interrupt),
        )
    }
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _run(argv: list[str] | None) -> int:
    try:
        with _signals_interrupt():
            code = cli.main(args=argv, prog_name="reconciler", standalone_mode=False)
        return code if isinstance(code, int) else EXIT_OK
    except click.exceptions.Abort:
        click.echo("\nAborted.", err=True)
        return EXIT_INTERRUPTED
    except click.ClickException as exc:
        exc.show()
        return EXIT_ERROR  # usage errors too: exit 2 belongs to --detailed-exitcode
    except ConfigError as exc:
        _print_problems(exc.problems)
        errors = [p for p in exc.problems if p.is_error]
        click.echo(f"Error: the configuration is invalid ({len(errors)} error(s)).", err=True)
        return EXIT_ERROR
    except ApplyInterruptedError as exc:
        click.echo(f"Error: {visible(exc.message)}", err=True)
        return EXIT_INTERRUPTED
    except ReconcilerError as exc:
        click.echo(f"Error: {visible(exc.message)}", err=True)
        return exc.exit_code
    except KeyboardInterrupt:
        click.echo("\nInterrupted.", err=True)
        return EXIT_INTERRUPTED
    except Exception as exc:  # the last line of defence: a sentence, not a traceback
        logging.getLogger("reconciler").debug("internal error", exc_info=True)
        click.echo(
            f"Error: internal error ({type(exc).__name__}); please report it. "
            "Run with -vv for details.",
            err=True,
        )
        return EXIT_ERROR
    finally:
        gc.unfreeze()  # see _load: a caller that goes on (a test) gets its GC back whole
