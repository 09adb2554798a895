"""`reconciler demo` and `reconciler sandbox --seed-from`: a sandbox store seeded so the
example config shows real changes: about half of each declared segment's members are
already in, a few undeclared members are there to be removed, and one undeclared segment
shows that what is not declared is never touched."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from reconciler.model import DesiredState
from reconciler.sandbox.store import SandboxStore

UNDECLARED_SEGMENT = "Newsletter (not in the config)"


def seed_from_config(
    store: SandboxStore, desired: DesiredState, extra_per_segment: int = 2
) -> None:
    """Create customers, profiles and segments so `desired` differs from the store."""
    counter = iter(range(1, 1_000_000))

    def new_profile(pid: str | None = None) -> str:
        n = next(counter)
        customer = store.add_customer(
            email=f"shopper{n}@example.com", first_name="Shopper", last_name=str(n)
        )
        return str(store.add_profile(customer["id"], id=pid)["id"])

    declared = sorted({p for seg in desired.segments for p in seg.profiles})
    for pid in declared:
        new_profile(pid)
    for seg in desired.segments:
        name = seg.name if seg.name is not None else f"Segment {seg.id}"
        created = store.add_segment(name, description="Seeded by reconciler", id=seg.id)
        keep = sorted(seg.profiles)[: len(seg.profiles) // 2]
        extras = [new_profile() for _ in range(extra_per_segment)]
        store.add_members(str(created["id"]), keep + extras)
    other = store.add_segment(UNDECLARED_SEGMENT, description="Never touched: not declared")
    store.add_members(str(other["id"]), [new_profile() for _ in range(3)] + declared[:2])


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def run_demo(
    config_file: str,
    desired: DesiredState,
    run: Callable[[list[str]], int],
    echo: Callable[[str], None],
) -> int:
    """Start a seeded sandbox, then plan, apply and plan again through the real CLI."""
    from reconciler.sandbox.server import SandboxServer

    store = SandboxStore()
    seed_from_config(store, desired)
    with SandboxServer(store=store) as server:
        env = {
            "BIGCOMMERCE_API_URL": server.url,
            "BIGCOMMERCE_STORE_HASH": server.config.store_hash,
            "BIGCOMMERCE_ACCESS_TOKEN": server.config.token,
        }
        echo(
            f"Started a sandbox store at {server.url} (store hash "
            f'"{server.config.store_hash}"), seeded to differ from {config_file}.\n'
        )
        steps = [
            ["plan", "-f", config_file],
            ["apply", "-f", config_file, "--auto-approve"],
            ["plan", "-f", config_file, "--detailed-exitcode"],
        ]
        with environment(env):
            for args in steps:
                echo(f"$ reconciler {' '.join(args)}")
                code = run(args)
                echo(f"(exit code {code})\n")
                if code != 0:
                    echo("The demo stopped at a failing step.")
                    return 1
    echo(
        "Stopped the sandbox. To keep one running: reconciler sandbox --seed-from "
        f"{config_file} --state sandbox.json"
    )
    return 0
