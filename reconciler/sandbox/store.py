"""The sandbox's data: segments, shopper profiles, customers and memberships.

State file format (JSON): {"format": "reconciler-sandbox/1", "segments": [Segment...],
"shopper_profiles": [ShopperProfile...], "customers": [{id, email, first_name, last_name}],
"members": {segment_id: [profile_id, ...]}}. Ids are lower-case UUIDs, customers ints."""

from __future__ import annotations

import json
import os
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FORMAT = "reconciler-sandbox/1"
MAX_SEGMENTS = 1000


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class SandboxStore:
    """In-memory store. The lock lets tests read it while the server thread writes."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.segments: dict[str, dict[str, Any]] = {}
        self.profiles: dict[str, dict[str, Any]] = {}
        self.customers: dict[int, dict[str, Any]] = {}
        # dict as an insertion-ordered set: pages come out in a stable order
        self.memberships: dict[str, dict[str, None]] = {}

    # --- seeding and reading ---------------------------------------------------------
    def add_segment(
        self, name: str, description: str = "", id: str | None = None
    ) -> dict[str, Any]:
        with self.lock:
            if any(s["name"] == name for s in self.segments.values()):
                raise ValueError(f"a segment named {name!r} exists")
            if len(self.segments) >= MAX_SEGMENTS:
                raise ValueError("a store holds at most 1,000 segments")
            sid = (id or str(uuid.uuid4())).lower()
            stamp = now()
            seg = {
                "id": sid,
                "name": name,
                "description": description,
                "created_at": stamp,
                "updated_at": stamp,
            }
            self.segments[sid] = seg
            self.memberships[sid] = {}
            return dict(seg)

    def add_customer(
        self, email: str, first_name: str = "", last_name: str = "", id: int | None = None
    ) -> dict[str, Any]:
        with self.lock:
            cid = id if id is not None else max(self.customers, default=0) + 1
            if cid in self.customers:
                raise ValueError(f"customer {cid} exists")
            customer = {"id": cid, "email": email, "first_name": first_name, "last_name": last_name}
            self.customers[cid] = customer
            return dict(customer)

    def profile_of(self, customer_id: int) -> dict[str, Any] | None:
        with self.lock:
            return next(
                (p for p in self.profiles.values() if p["customer_id"] == customer_id), None
            )

    def add_profile(self, customer_id: int, id: str | None = None) -> dict[str, Any]:
        with self.lock:
            if customer_id not in self.customers:
                raise KeyError(f"customer {customer_id} does not exist")
            if self.profile_of(customer_id) is not None:
                raise ValueError(f"customer {customer_id} has a shopper profile")
            pid = (id or str(uuid.uuid4())).lower()
            stamp = now()
            profile = {
                "id": pid,
                "customer_id": customer_id,
                "created_at": stamp,
                "updated_at": stamp,
            }
            self.profiles[pid] = profile
            return dict(profile)

    def add_members(self, segment_id: str, profile_ids: list[str]) -> None:
        with self.lock:
            members = self.memberships[segment_id]
            for pid in profile_ids:
                if pid.lower() not in self.profiles:
                    raise KeyError(f"shopper profile {pid} does not exist")
                members[pid.lower()] = None

    def members(self, segment_id: str) -> list[str]:
        with self.lock:
            return list(self.memberships.get(segment_id, {}))

    def segment_by_name(self, name: str) -> dict[str, Any] | None:
        with self.lock:
            return next((dict(s) for s in self.segments.values() if s["name"] == name), None)

    def segments_of(self, profile_id: str) -> list[str]:
        with self.lock:
            return [sid for sid, m in self.memberships.items() if profile_id in m]

    # --- persistence -----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        with self.lock:
            return {
                "format": FORMAT,
                "segments": list(self.segments.values()),
                "shopper_profiles": list(self.profiles.values()),
                "customers": list(self.customers.values()),
                "members": {sid: list(m) for sid, m in self.memberships.items()},
            }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SandboxStore:
        if data.get("format") != FORMAT:
            raise ValueError(f"not a sandbox state file (format {data.get('format')!r})")
        store = cls()
        store.segments = {s["id"]: dict(s) for s in data["segments"]}
        store.profiles = {p["id"]: dict(p) for p in data["shopper_profiles"]}
        store.customers = {int(c["id"]): dict(c) for c in data["customers"]}
        store.memberships = {sid: dict.fromkeys(ids) for sid, ids in data["members"].items()}
        for sid in store.segments:
            store.memberships.setdefault(sid, {})
        return store

    def save(self, path: Path) -> None:
        """Atomic: a crash mid-write never leaves a half-written state file."""
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(self.to_dict()), encoding="utf-8")
        os.replace(tmp, path)

    @classmethod
    def load(cls, path: Path) -> SandboxStore:
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
