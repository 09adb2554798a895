"""The sandbox's data: segments, shopper profiles, customers and memberships. Pure Python,
no HTTP: the app (app.py) applies the API's rules on top of these methods.

State file format (JSON, one object)::

    {"format": "reconciler-sandbox/1",
     "segments": [{"id", "name", "description", "created_at", "updated_at"}, ...],
     "shopper_profiles": [{"id", "customer_id", "created_at", "updated_at"}, ...],
     "customers": [{"id", "email", "first_name", "last_name"}, ...],
     "members": {"<segment id>": ["<profile id>", ...], ...}}

Segment and profile ids are lower-case UUIDs, customer ids integers, timestamps ISO 8601
UTC ("2024-01-31T12:00:00Z"). Lists keep insertion order, which is the order the API pages
them in. The file is written atomically (a temporary file, then os.replace)."""

from __future__ import annotations

import json
import os
import tempfile
import threading
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

FORMAT = "reconciler-sandbox/1"
MAX_SEGMENTS = 1000


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class SandboxStore:
    """In-memory store. Every method takes `lock` (re-entrant), so a test thread can seed or
    read it while the server thread serves requests from its event loop."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.segments: dict[str, dict[str, Any]] = {}
        self.profiles: dict[str, dict[str, Any]] = {}
        self.customers: dict[int, dict[str, Any]] = {}
        # dict as an insertion-ordered set: pages come out in a stable order
        self.memberships: dict[str, dict[str, None]] = {}
        # Indexes, so seeding and customer look-ups stay O(1) in stores of 100,000 shoppers.
        self._profile_by_customer: dict[int, str] = {}
        self._customer_by_email: dict[str, int] = {}

    # --- seeding and reading ---------------------------------------------------------
    def add_segment(
        self, name: str, description: str = "", id: str | None = None
    ) -> dict[str, Any]:
        """Names are unique per store and a store holds at most 1,000 segments."""
        with self.lock:
            if self.segment_by_name(name) is not None:
                raise ValueError(f"a segment named {name!r} exists")
            if len(self.segments) >= MAX_SEGMENTS:
                raise ValueError(f"a store holds at most {MAX_SEGMENTS} segments")
            sid = (id or str(uuid.uuid4())).lower()
            if sid in self.segments:
                raise ValueError(f"segment {sid} exists")
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

    def update_segment(
        self, segment_id: str, name: str | None = None, description: str | None = None
    ) -> dict[str, Any]:
        with self.lock:
            seg = self.segments[segment_id.lower()]
            if name is not None and name != seg["name"] and self.segment_by_name(name):
                raise ValueError(f"a segment named {name!r} exists")
            if name is not None:
                seg["name"] = name
            if description is not None:
                seg["description"] = description
            seg["updated_at"] = now()
            return dict(seg)

    def delete_segments(self, segment_ids: Iterable[str] | None) -> int:
        """Delete these segments (unknown ids ignored); None deletes every one. Profiles
        stay: only their memberships go. Returns how many were deleted."""
        with self.lock:
            ids = list(self.segments) if segment_ids is None else [s.lower() for s in segment_ids]
            deleted = 0
            for sid in ids:
                if self.segments.pop(sid, None) is not None:
                    deleted += 1
                self.memberships.pop(sid, None)
            return deleted

    def add_customer(
        self, email: str, first_name: str = "", last_name: str = "", id: int | None = None
    ) -> dict[str, Any]:
        """Emails are unique per store, compared case-insensitively as BigCommerce does."""
        with self.lock:
            cid = id if id is not None else max(self.customers, default=0) + 1
            if cid in self.customers:
                raise ValueError(f"customer {cid} exists")
            if email.lower() in self._customer_by_email:
                raise ValueError(f"a customer with the email {email!r} exists")
            customer = {"id": cid, "email": email, "first_name": first_name, "last_name": last_name}
            self.customers[cid] = customer
            self._customer_by_email[email.lower()] = cid
            return dict(customer)

    def customer_by_email(self, email: str) -> dict[str, Any] | None:
        with self.lock:
            cid = self._customer_by_email.get(email.lower())
            return None if cid is None else dict(self.customers[cid])

    def profile_of(self, customer_id: int) -> dict[str, Any] | None:
        with self.lock:
            pid = self._profile_by_customer.get(customer_id)
            return None if pid is None else dict(self.profiles[pid])

    def add_profile(self, customer_id: int, id: str | None = None) -> dict[str, Any]:
        """One profile per registered customer; guests (no customer record) get none."""
        with self.lock:
            if customer_id not in self.customers:
                raise KeyError(f"customer {customer_id} does not exist")
            if customer_id in self._profile_by_customer:
                raise ValueError(f"customer {customer_id} has a shopper profile")
            pid = (id or str(uuid.uuid4())).lower()
            if pid in self.profiles:
                raise ValueError(f"shopper profile {pid} exists")
            stamp = now()
            profile = {
                "id": pid,
                "customer_id": customer_id,
                "created_at": stamp,
                "updated_at": stamp,
            }
            self.profiles[pid] = profile
            self._profile_by_customer[customer_id] = pid
            return dict(profile)

    def delete_profiles(self, profile_ids: Iterable[str] | None) -> int:
        """Delete these profiles and their memberships; None deletes every profile."""
        with self.lock:
            ids = list(self.profiles) if profile_ids is None else [p.lower() for p in profile_ids]
            deleted = 0
            for pid in ids:
                profile = self.profiles.pop(pid, None)
                if profile is None:
                    continue
                deleted += 1
                self._profile_by_customer.pop(profile["customer_id"], None)
                for members in self.memberships.values():
                    members.pop(pid, None)
            return deleted

    def add_members(self, segment_id: str, profile_ids: Iterable[str]) -> None:
        """Seeding: add these profiles (already-members are kept, not refused)."""
        with self.lock:
            members = self.memberships[segment_id.lower()]
            for pid in profile_ids:
                if pid.lower() not in self.profiles:
                    raise KeyError(f"shopper profile {pid} does not exist")
                members[pid.lower()] = None

    def remove_members(self, segment_id: str, profile_ids: Iterable[str] | None) -> int:
        """Remove these profiles from the segment (non-members ignored); None removes all.
        Returns how many memberships went."""
        with self.lock:
            members = self.memberships[segment_id.lower()]
            if profile_ids is None:
                removed = len(members)
                members.clear()
                return removed
            before = len(members)
            for pid in profile_ids:
                members.pop(pid.lower(), None)
            return before - len(members)

    def members(self, segment_id: str) -> list[str]:
        with self.lock:
            return list(self.memberships.get(segment_id.lower(), {}))

    def segment_by_name(self, name: str) -> dict[str, Any] | None:
        with self.lock:
            return next((dict(s) for s in self.segments.values() if s["name"] == name), None)

    def segments_of(self, profile_id: str) -> list[str]:
        with self.lock:
            return [sid for sid, m in self.memberships.items() if profile_id.lower() in m]

    # --- persistence -----------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        with self.lock:
            return {
                "format": FORMAT,
                "segments": [dict(s) for s in self.segments.values()],
                "shopper_profiles": [dict(p) for p in self.profiles.values()],
                "customers": [dict(c) for c in self.customers.values()],
                "members": {sid: list(m) for sid, m in self.memberships.items()},
            }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SandboxStore:
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            found = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise ValueError(f"not a sandbox state file (format {found!r})")
        store = cls()
        store.segments = {s["id"].lower(): dict(s) for s in data["segments"]}
        store.profiles = {p["id"].lower(): dict(p) for p in data["shopper_profiles"]}
        store.customers = {int(c["id"]): dict(c) for c in data["customers"]}
        store.memberships = {
            sid.lower(): dict.fromkeys(p.lower() for p in ids)
            for sid, ids in data["members"].items()
            if sid.lower() in store.segments
        }
        for sid in store.segments:
            store.memberships.setdefault(sid, {})
        store._profile_by_customer = {p["customer_id"]: pid for pid, p in store.profiles.items()}
        store._customer_by_email = {c["email"].lower(): cid for cid, c in store.customers.items()}
        return store

    def save(self, path: Path) -> None:
        """Atomic: a crash mid-write never leaves a half-written state file."""
        text = json.dumps(self.to_dict())
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path) -> SandboxStore:
        return cls.from_dict(json.loads(path.read_text(encoding="utf-8")))
