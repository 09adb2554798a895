"""`reconciler demo` and `reconciler sandbox --seed-from`: a sandbox store seeded so the
example config shows real changes: about half of each declared segment's members are
already in, a few undeclared members are there to be removed, and one undeclared segment
shows that what is not declared is never touched. The customers the config names by id or
email exist, every other one without a shopper profile yet, so apply creates some."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from reconciler.model import CustomerRef, DesiredSegment, DesiredState
from reconciler.sandbox.store import SandboxStore

UNDECLARED_SEGMENT = "Newsletter (not in the config)"


# A customer the config names: ("id", 42) or ("email", "jane@example.com"), normalised.
CustomerKey = tuple[str, int | str]


def customer_key(ref: CustomerRef) -> CustomerKey:
    return ("id", ref.customer_id) if ref.customer_id is not None else ("email", ref.email or "")


def named_customers(desired: DesiredState) -> dict[CustomerKey, str]:
    """Every customer the config names, once, in the order first named, with the email
    to give it: as spelled for an email entry, "" (one is made up) for an id entry. An id
    and an email are distinct customers: nothing in the config says they are the same."""
    named: dict[CustomerKey, str] = {}
    for seg in desired.segments:
        for ref in seg.customers:
            named.setdefault(customer_key(ref), ref.spelled or ref.email or "")
    return named


class Shoppers:
    """Makes customers and profiles with numbered emails that no config entry names."""

    def __init__(self, store: SandboxStore, reserved: set[str]) -> None:
        self.store = store
        self.reserved = reserved
        self.count = 0

    def fresh_email(self) -> str:
        """The next numbered email that neither the config nor the store has."""
        while True:
            self.count += 1
            email = f"shopper{self.count}@example.com"
            if email not in self.reserved and self.store.customer_by_email(email) is None:
                return email

    def customer(self, email: str = "", id: int | None = None) -> int:
        """A new customer: with this email, or a fresh one when none is given."""
        last_name = ""
        if not email:
            email, last_name = self.fresh_email(), str(self.count)
        return int(self.store.add_customer(email, "Shopper", last_name, id=id)["id"])

    def profile(self, customer_id: int | None = None, pid: str | None = None) -> str:
        cid = self.customer() if customer_id is None else customer_id
        return str(self.store.add_profile(cid, id=pid)["id"])


def seed_named(shoppers: Shoppers, named: dict[CustomerKey, str]) -> dict[CustomerKey, int]:
    """The named customers, by key. Ids first: the store numbers new customers after its
    highest id, so no customer made later can take an id the config names."""
    ids = [k for k in named if k[0] == "id"]
    emails = [k for k in named if k[0] == "email"]
    made = {k: shoppers.customer(id=int(k[1])) for k in ids}
    made.update({k: shoppers.customer(email=named[k]) for k in emails})
    return made


def already_in(seg: DesiredSegment, profiled: dict[CustomerKey, str]) -> list[str]:
    """About half of the segment's listed profiles and of its named customers' profiles."""
    listed = sorted(seg.profiles)
    keys = dict.fromkeys(customer_key(r) for r in seg.customers)
    named = [profiled[k] for k in keys if k in profiled]
    return listed[: len(listed) // 2] + named[: len(named) // 2]


def seed_from_config(
    store: SandboxStore, desired: DesiredState, extra_per_segment: int = 2
) -> None:
    """Create customers, profiles and segments so `desired` differs from the store. Every
    other customer the config names (from the first) has no profile yet, so the plan
    shows profiles to create."""
    named = named_customers(desired)
    shoppers = Shoppers(store, {k[1] for k in named if isinstance(k[1], str)})
    customers = seed_named(shoppers, named)
    declared = sorted({p for seg in desired.segments for p in seg.profiles})
    for pid in declared:
        shoppers.profile(pid=pid)
    # After the declared profiles, so a made-up profile id never takes a declared one.
    profiled = {k: shoppers.profile(customers[k]) for k in list(named)[1::2]}
    for seg in desired.segments:
        name = seg.name if seg.name is not None else f"Segment {seg.id}"
        created = store.add_segment(name, description="Seeded by reconciler", id=seg.id)
        extras = [shoppers.profile() for _ in range(extra_per_segment)]
        store.add_members(str(created["id"]), already_in(seg, profiled) + extras)
    other = store.add_segment(UNDECLARED_SEGMENT, description="Never touched: not declared")
    store.add_members(str(other["id"]), [shoppers.profile() for _ in range(3)] + declared[:2])


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
