"""`reconciler export`: the store's live segments as a valid, commented segments.yaml, so a
team adopts the tool in one step: export, commit, and `plan` says `No changes.`

Segments are sorted by name, members by what is written. Members are written as shopper
profile UUIDs (each with its customer id in a comment), customer ids or emails (`--as`);
a member whose customer id or email is unknown falls back to the next form that is known,
so the file always means exactly the live membership. A description is written when the
store has one (an absent description is not managed)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from yaml.nodes import ScalarNode
from yaml.resolver import Resolver

from reconciler.client import BigCommerceClient, gather_cancelling
from reconciler.customers import lookup_customers
from reconciler.errors import SegmentNotFoundError
from reconciler.live import read_segments
from reconciler.model import LiveSegment, is_email, normalize_uuid

FORMS = ("uuid", "customer_id", "email")
_STORE_HASH = re.compile(r"[A-Za-z0-9]+")  # what the config schema accepts
_PLAIN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@+/()&-]*(?: [A-Za-z0-9_.@+/()&-]+)*")
_RESOLVER = Resolver()
_STR = "tag:yaml.org,2002:str"
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


@dataclass(frozen=True, slots=True)
class Member:
    profile_id: str
    customer_id: int | None = None
    email: str | None = None


@dataclass(frozen=True, slots=True)
class ExportedSegment:
    segment: LiveSegment
    members: tuple[Member, ...]


def scalar(text: str) -> str:
    """A YAML scalar that reads back as exactly `text`, as a string: plain when that is
    unambiguous, otherwise double-quoted with escapes."""
    if _PLAIN.fullmatch(text) and _RESOLVER.resolve(ScalarNode, text, (True, False)) == _STR:
        return text
    out = []
    for ch in text:
        code = ord(ch)
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif code < 0x20 or code == 0x7F or 0x80 <= code < 0xA0 or 0xD800 <= code < 0xE000:
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        elif ch in "\u2028\u2029\ufeff":
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _member_line(member: Member, form: str) -> tuple[tuple[int, str], str]:
    """(sort key, list item) for one member in the requested form or the best fallback:
    an email the config would refuse (a space in it) falls back to the customer id, a
    customer the look-up did not find (read_export drops its id) to the UUID, so that the
    exported file always reads back as the same members."""
    cid, email = member.customer_id, member.email
    # Exactly as the store has it: the plan finds it by `email:in`, spaces and all.
    if form == "email" and email and email == email.strip() and is_email(email):
        note = f"  # customer {cid}" if cid is not None else ""
        return (0, email.lower()), f"- email: {scalar(email)}{note}"
    if form in ("email", "customer_id") and cid is not None:
        note = "  # no email known" if form == "email" else ""
        return (1, f"{cid:020d}"), f"- customer_id: {cid}{note}"
    note = f"  # customer {cid}" if cid is not None else "  # customer unknown"
    return (2, member.profile_id), f"- {member.profile_id}{note}"


def render_export(
    segments: Sequence[ExportedSegment], *, store_hash: str, form: str, when: str = ""
) -> str:
    total = sum(len(s.members) for s in segments)
    how = {
        "uuid": "shopper profile UUIDs, each with its customer id in a comment",
        "customer_id": "customer ids (reconciler resolves them to shopper profiles)",
        "email": "customer emails (reconciler resolves them to shopper profiles)",
    }[form]
    plural = "" if len(segments) == 1 else "s"
    lines = [
        f'# The live membership of store "{store_hash}": {len(segments)} segment{plural}, '
        f"{total} members.",
        "# Written by `reconciler export`" + (f" at {when}." if when else "."),
        "# `reconciler plan` against the same store says `No changes.`; edit this file to",
        "# change the store. Segments not listed here are not managed.",
        f"# Members are {how}.",
        "",
        "version: 1",
    ]
    if _STORE_HASH.fullmatch(store_hash):
        lines.append(f"store_hash: {store_hash}")
    else:  # the config format allows only letters and digits here
        lines.append(f"# store_hash: {store_hash}  (set BIGCOMMERCE_STORE_HASH instead)")
    lines += ["", "segments:" if segments else "segments: []"]
    by_name = sorted(
        segments, key=lambda e: (e.segment.name.casefold(), e.segment.name, e.segment.id)
    )
    for exported in by_name:
        seg = exported.segment
        count = len(exported.members)
        word = "member" if count == 1 else "members"
        lines.append(f"  - name: {scalar(seg.name)}  # id {seg.id}, {count} {word}")
        if seg.description:
            lines.append(f"    description: {scalar(seg.description)}")
        if not exported.members:
            lines.append("    shopper_profiles: []")
            continue
        lines.append("    shopper_profiles:")
        items = sorted(_member_line(m, form) for m in exported.members)
        lines += ["      " + item for _, item in items]
    return "\n".join(lines) + "\n"


def _members(rows: list[dict[str, Any]]) -> list[Member]:
    out = []
    for row in rows:
        cid = row.get("customer_id")
        out.append(
            Member(
                normalize_uuid(str(row["id"])),
                cid if isinstance(cid, int) and not isinstance(cid, bool) else None,
            )
        )
    return out


async def read_export(
    client: BigCommerceClient, names: Sequence[str], form: str
) -> list[ExportedSegment]:
    """The chosen segments (every one when `names` is empty) with their members; for
    `email` and `customer_id`, their customers in one bulk look-up by id (a customer it
    does not find is dropped: the member is written by UUID)."""
    if form not in FORMS:
        raise ValueError(f"unknown member form {form!r}")
    segments = await read_segments(client)
    if names:
        by_name = {s.name: s for s in segments}
        missing = [n for n in dict.fromkeys(names) if n not in by_name]
        if missing:
            shown = ", ".join(f'"{n}"' for n in missing)
            raise SegmentNotFoundError(f"no segment named {shown} in the store")
        segments = tuple(by_name[n] for n in dict.fromkeys(names))
    pages = await gather_cancelling(client.list_segment_members(s.id) for s in segments)
    members = [_members(rows) for rows in pages]
    if form in ("email", "customer_id"):
        # Looked up for customer_id too: an id the store no longer has would make the
        # exported file fail its own plan ("customer N does not exist").
        ids = {m.customer_id for ms in members for m in ms if m.customer_id is not None}
        customers = await lookup_customers(client, ids=ids) if ids else {}
        members = [
            [
                Member(
                    m.profile_id,
                    m.customer_id if m.customer_id in customers else None,
                    customers[m.customer_id].email if m.customer_id in customers else None,
                )
                for m in ms
            ]
            for ms in members
        ]
    return [ExportedSegment(s, tuple(ms)) for s, ms in zip(segments, members, strict=True)]


async def export_config(
    client: BigCommerceClient, names: Sequence[str], form: str
) -> tuple[str, str]:
    """(the YAML text, a one-line summary for stderr)."""
    segments = await read_export(client, names, form)
    when = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    text = render_export(segments, store_hash=client.settings.store_hash, form=form, when=when)
    total = sum(len(s.members) for s in segments)
    plural = "" if len(segments) == 1 else "s"
    return text, f"Exported {len(segments)} segment{plural} ({total} members)."
