"""The plan as a JSON document: `plan --format json`, `plan --out FILE`, `show`, `apply FILE`.

One shape for all of them, described by schemas/plan.schema.json. The document holds no
secret: the token is never part of a Plan. Format 1 grew optional keys (segment creation
and updates, shopper profiles to create, emails); a file without them, from an earlier
release, means what it always meant, so the format version did not change."""

from __future__ import annotations

import json
import math
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.errors import PlanFileError
from reconciler.model import SafetyPolicy
from reconciler.plan import AttributeChange, NewProfile, Plan, SegmentPlan, membership_digest

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

FORMAT_VERSION = 1


def _validator() -> Draft202012Validator:
    from jsonschema import Draft202012Validator  # on first use: see config._validator

    text = resources.files("reconciler").joinpath("schemas/plan.schema.json").read_text()
    return Draft202012Validator(json.loads(text))


def to_document(plan: Plan) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "tool_version": plan.tool_version,
        "created_at": plan.created_at,
        "store_hash": plan.store_hash,
        "config_digest": plan.config_digest,
        "summary": plan.summary(),
        "guard": {
            "would_refuse": bool(plan.guard_violations()),
            "violations": [
                {
                    "segment": v.segment,
                    "remove": v.remove,
                    "live": v.live,
                    "percent": round(v.percent, 2),
                    "limit": v.limit,
                    "message": str(v),
                }
                for v in plan.guard_violations()
            ],
        },
        "warnings": list(plan.warnings),
        "customer_ids": dict(sorted(plan.customer_ids.items())),
        "emails": dict(sorted(plan.emails.items())),
        "create_profiles": [
            {"customer_id": p.customer_id, "email": p.email} for p in plan.create_profiles
        ],
        "segments": [
            {
                "id": s.segment_id,
                "name": s.name,
                "prune": s.prune,
                "policy": {
                    "max_removal_percent": s.policy.max_removal_percent,
                    "min_members_for_guard": s.policy.min_members_for_guard,
                },
                "live_count": s.live_count,
                "live_digest": s.live_digest,
                "add": list(s.add),
                "remove": list(s.remove),
                "live_members": list(s.live_members),
                "create": s.create,
                "description": s.description,
                "changes": [{"field": c.field, "old": c.old, "new": c.new} for c in s.changes],
                "add_customers": list(s.add_customers),
                "pinned": s.pinned,
            }
            for s in plan.segments
        ],
    }


def dumps(plan: Plan) -> str:
    return json.dumps(to_document(plan), indent=2) + "\n"


def from_document(doc: Any, source: str = "plan") -> Plan:
    if isinstance(doc, dict) and doc.get("format_version") not in (None, FORMAT_VERSION):
        raise PlanFileError(
            f"{source} has plan format version {doc.get('format_version')!r}; this reconciler "
            f"reads version {FORMAT_VERSION}: make the plan again with this version"
        )
    error = next(iter(sorted(_validator().iter_errors(doc), key=lambda e: e.path)), None)
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "top level"
        raise PlanFileError(f"{source} is not a valid plan file ({where}: {error.message})")
    segments = tuple(
        SegmentPlan(
            segment_id=s["id"],
            name=s["name"],
            add=tuple(s["add"]),
            remove=tuple(s["remove"]),
            live_count=s["live_count"],
            live_digest=s["live_digest"],
            prune=s["prune"],
            policy=SafetyPolicy(**s["policy"]),
            live_members=tuple(s["live_members"]),
            create=s.get("create", False),
            description=s.get("description"),
            changes=tuple(AttributeChange(**c) for c in s.get("changes", [])),
            add_customers=tuple(s.get("add_customers", [])),
            # A plan from before the field: no rename check, as then.
            pinned=s.get("pinned", True),
        )
        for s in doc["segments"]
    )
    plan = Plan(
        segments=segments,
        store_hash=doc["store_hash"],
        config_digest=doc["config_digest"],
        customer_ids={k: int(v) for k, v in doc["customer_ids"].items()},
        warnings=tuple(doc["warnings"]),
        created_at=doc["created_at"],
        tool_version=doc["tool_version"],
        emails=dict(doc.get("emails", {})),
        create_profiles=tuple(NewProfile(**p) for p in doc.get("create_profiles", [])),
    )
    ids = [s.segment_id for s in segments if s.segment_id is not None]
    if len(set(ids)) != len(ids):
        raise PlanFileError(f"{source} is corrupt: it changes one segment twice")
    # Keys a file from an earlier release lacks count as 0.
    if any(doc["summary"].get(k, 0) != v for k, v in plan.summary().items()):
        raise PlanFileError(f"{source} is corrupt: its summary does not match its changes")
    if any(s.create != (s.segment_id is None) for s in segments):
        raise PlanFileError(f"{source} is corrupt: a segment to create has an id, or one without")
    contradiction = _contradiction(plan, doc)
    if contradiction is not None:
        raise PlanFileError(f"{source} is corrupt: {contradiction}")
    return plan


def _contradiction(plan: Plan, doc: dict[str, Any]) -> str | None:
    """What in a loaded plan contradicts the rest of it (an edited or damaged file).
    Apply takes a saved plan's live counts, policies and guard as they are, so each must
    follow from the file's own members: else an edited count could slip past the guard."""
    new_profiles = {p.customer_id for p in plan.create_profiles}
    used = {cid for s in plan.segments for cid in s.add_customers}
    if new_profiles - used:
        return f"it creates a shopper profile for customer {min(new_profiles - used)}, unused"
    created = [s.name for s in plan.segments if s.create]
    if len(set(created)) != len(created):
        return "it creates two segments of one name"
    for s in plan.segments:
        where = f'segment "{s.name}"'
        fields = [c.field for c in s.changes]
        if len(set(fields)) != len(fields):
            return f"{where} changes one attribute twice"
        limit = s.policy.max_removal_percent
        if not (math.isfinite(limit) and 0 <= limit <= 100) or s.policy.min_members_for_guard < 0:
            return f"{where} has a removal policy out of range"
        orphans = sorted(set(s.add_customers) - new_profiles)
        if orphans:
            return f"{where} adds customer {orphans[0]}, whose shopper profile it does not create"
        if s.create:
            if s.remove or s.live_count or s.live_members:
                return f"{where} is to be created, yet has live members"
            continue
        if not s.has_member_changes:
            continue
        members = frozenset(s.live_members)
        if (
            len(members) != len(s.live_members)
            or len(members) != s.live_count
            or membership_digest(s.live_members) != s.live_digest
        ):
            return f"{where}: its live members do not match its live count and digest"
        if not members.issuperset(s.remove) or not members.isdisjoint(s.add):
            return f"{where}: its adds and removals do not follow from its live members"
    guard = doc.get("guard")
    refuses = guard.get("would_refuse") if isinstance(guard, dict) else None
    if refuses is not None and refuses != bool(plan.guard_violations()):
        return "its guard verdict does not match its changes"
    return None


def load(path: str | Path) -> Plan:
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise PlanFileError(f"plan file {p} does not exist") from None
    except OSError as exc:
        raise PlanFileError(f"cannot read plan file {p}: {exc.strerror or exc}") from None
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise PlanFileError(f"{p} is not a plan file (not valid JSON; is it truncated?)") from None
    except RecursionError:
        raise PlanFileError(f"{p} is not a plan file (nested too deeply)") from None
    try:
        return from_document(doc, source=str(p))
    except RecursionError:
        raise PlanFileError(f"{p} is not a plan file (nested too deeply)") from None
