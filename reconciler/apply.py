"""Runs a Plan through the client.

Order and guarantees:
- first the setup: segments to create (POST /segments) and to update (PUT /segments),
  then the shopper profiles to create (POST /shopper-profiles), each in bulk requests of
  at most 50; the plan is then "materialised": created segments get their ids, new
  profiles join the adds. A segment that could not be created, or a customer whose
  profile could not be created, fails only its own changes;
- then each segment on its own: its adds before its removes, every batch at most 50 adds,
  removals in bounded `id:in` chunks; segments run side by side, so none waits for the
  slowest;
- lanes as many as the client's in-flight limit, so a stop request (Ctrl-C) stops
  dispatching at once while in-flight requests finish;
- one failed batch never stops the others; only a rejected token or missing scope
  (which would fail every request) ends the run early;
- a 409 or a partial 422 on an add means "re-read, then send only what is still
  missing": the API does not say whether the rest of the batch landed;
- once a segment's changes are done it is checked against the plan's target: a count,
  or a full re-read where anything went wrong;
- a write that went out but got no answer before a stop may have been made: it is
  recorded as unknown, never as failed (once stopping, nothing is sent to find out).
Every step is idempotent, so re-running apply after any stop converges."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from reconciler.client import (
    BigCommerceClient,
    SendMark,
    chunk_adds,
    chunk_removals,
    sending,
)
from reconciler.customers import lookup_customers
from reconciler.errors import (
    ApiError,
    AuthenticationError,
    ConflictError,
    NetworkError,
    PermissionDeniedError,
    ReconcilerError,
    RetriesExhaustedError,
    StoppedError,
    UnprocessableError,
)
from reconciler.live import read_members, read_segments
from reconciler.model import is_uuid, normalize_uuid
from reconciler.outcome import (
    Action,
    ApplyResult,
    ChangeResult,
    Progress,
    SetupKind,
    SetupResult,
    Status,
    Verification,
)
from reconciler.plan import Plan, SegmentPlan

log = logging.getLogger("reconciler.apply")

# Re-read rounds after conflicts; each round only sends what is still missing.
MAX_ADD_ROUNDS = 3
# Batches in a row whose retries ran out (the store unreachable or failing) before apply
# stops dispatching: each further one would spend its whole retry budget the same way.
GIVE_UP_STREAK = 3
# Items per bulk request when creating or updating segments and creating profiles: the
# documented size of the API's other bulk writes.
SETUP_BATCH = 50
# Why a write is unknown: it went out, and the stop came before a definite answer.
UNKNOWN = "sent, but no answer came before the stop: it may have been made; run plan to see"
EXISTS = "the store said it exists (made by this apply, or by someone else); run plan to see"
# Why an update that failed is not: re-reading the segments found the planned values.
UPDATED = "the store holds the new values (updated by this apply, or since the plan)"
T = TypeVar("T")


def _chunks(items: Sequence[T], size: int = SETUP_BATCH) -> list[list[T]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


@dataclass(frozen=True, slots=True)
class _Batch:
    seg: SegmentPlan
    action: Action
    ids: tuple[str, ...]


def _actions(seg: SegmentPlan) -> tuple[tuple[Action, tuple[str, ...]], ...]:
    return (("add", seg.add), ("remove", seg.remove))


def _refused(exc: ReconcilerError) -> bool:
    """A 4xx: the store answered no, so the write was not made (a 2xx partial failure, a
    5xx or no answer at all may come after it was)."""
    return isinstance(exc, ApiError) and 400 <= exc.status < 500


def _cut_short(exc: StoppedError) -> tuple[Status, str | None]:
    """What a request the stop ended did: nothing if never sent; nothing either if its
    last attempt was refused (a 429); else it may have been made (a lost answer, a
    timeout, a 5xx), which only reading the store could tell."""
    if not exc.sent:
        return "not_attempted", None
    if exc.status is not None and exc.status < 500:
        return "failed", exc.message
    return "unknown", UNKNOWN


def _unsettled(
    exc: ReconcilerError | None, why: str, *, creating: bool = False
) -> tuple[Status, str | None]:
    """A setup step left without what it asked for once nothing more may be sent (a stop,
    a fatal error): no read of the store can settle it. A creation refused as a conflict
    after an attempt whose answer was lost may well be this run's own."""
    if isinstance(exc, StoppedError):
        return _cut_short(exc)
    if creating and isinstance(exc, ConflictError):
        return "unknown", EXISTS
    return "failed", exc.message if exc else why


def _ids_named(item_errors: dict[str, str], batch: tuple[str, ...]) -> dict[str, str]:
    """Map the API's per-item errors to profile ids (the client already maps index keys)."""
    wanted = set(batch)
    named: dict[str, str] = {}
    for key, message in item_errors.items():
        pid = normalize_uuid(key) if is_uuid(key) else None
        if pid in wanted:
            named[pid] = message
        else:
            named.update({p: message for p in wanted if p in message.lower()})
    return named


class Applier:
    def __init__(
        self,
        client: BigCommerceClient,
        plan: Plan,
        *,
        stop: asyncio.Event | None = None,
        on_progress: Callable[[Progress], None] | None = None,
        workers: int | None = None,
    ) -> None:
        self.client = client
        self.plan = plan
        self.stop = stop or asyncio.Event()
        self._gave_up = 0  # batches in a row whose retries ran out (see GIVE_UP_STREAK)
        client.stop_on(self.stop)  # no new attempt once stopping: not even a retry
        self.on_progress = on_progress
        self.workers = workers or client.settings.max_in_flight
        self.result = ApplyResult()
        self._reread: set[str] = set()
        self._done = 0
        self._total = 0
        self._changed: tuple[SegmentPlan, ...] = ()
        self._setup: dict[tuple[SetupKind, str], SetupResult] = {}
        self._lanes = asyncio.Semaphore(self.workers)
        # Segments with a change attempted, and with one that did not simply apply.
        self._touched: set[str] = set()
        self._troubled: set[str] = set()
        self._early = 0  # changes recorded by setup (for segments or profiles not made)
        # Writes under way, for abandoned(): those whose mark says an attempt went out may
        # or may not have been made. By id(): hashing a batch hashes its whole segment.
        self._sending: dict[int, tuple[_Batch, SendMark]] = {}
        self._setup_calls: list[tuple[list[tuple[SetupKind, str]], SendMark]] = []
        self._materialised = False

    def _record(
        self,
        batch: _Batch,
        pid: str,
        status: Status,
        reason: str | None = None,
        customer_id: int | None = None,
    ) -> None:
        key = (batch.seg.key, batch.action, pid)
        self.result.changes[key] = ChangeResult(
            batch.seg.key, batch.seg.name, batch.action, pid, status, reason, customer_id
        )
        if status != "not_attempted":
            self._touched.add(batch.seg.key)
        if status != "applied":
            self._troubled.add(batch.seg.key)

    async def run(self) -> ApplyResult:
        try:
            await self._run()
        except ReconcilerError:
            raise
        except Exception as exc:
            # A defect, perhaps after some writes: say what was done rather than nothing.
            log.debug("internal error during apply", exc_info=True)
            self.result.fatal = _internal_error(exc)
        if self.stop.is_set():
            self.result.interrupted = True
        self._settle(self._changed)
        return self.result

    def abandoned(self) -> ApplyResult:
        """The result of a run cancelled outright (a second Ctrl-C), for the summary and
        the report: what was recorded, every write that was on its way unknown (it may
        have been made), the rest not attempted."""
        for batch, mark in self._sending.values():
            if mark.sent:
                for pid in batch.ids:
                    self._record(batch, pid, "unknown", UNKNOWN)
        for steps, mark in self._setup_calls:
            for kind, subject in steps:
                step = self._setup[(kind, subject)]
                if mark.sent and step.status == "not_attempted":
                    self._step(kind, subject, "unknown", UNKNOWN, step.id)
        self.result.setup = list(self._setup.values())
        self.result.interrupted = True
        if not self._materialised:
            # Cut off in setup: no member write was sent, the customers' adds included
            # (recorded first, as _materialise would).
            for seg in self.plan.changed:
                for cid in seg.add_customers:
                    who = f"customer {cid}"
                    self._record(_Batch(seg, "add", ()), who, "not_attempted", None, cid)
            self._early = len(self.result.changes)
        # Cut off in setup, the membership phase never started: every change of the
        # plan's segments is still to do.
        changed = self._changed or self.plan.changed
        self._troubled.update(s.key for s in changed)
        self._settle(changed)
        return self.result

    async def _run(self) -> None:
        materialised = await self._prepare()
        self._early = len(self.result.changes)
        # A segment that could not be created has no id: its adds were recorded as failed.
        changed = tuple(s for s in materialised.changed if s.segment_id is not None)
        self._changed = changed
        batches = {
            s.key: (
                [_Batch(s, "add", tuple(c)) for c in chunk_adds(list(s.add))],
                [_Batch(s, "remove", tuple(c)) for c in chunk_removals(list(s.remove))],
            )
            for s in changed
        }
        self._total = sum(len(a) + len(r) for a, r in batches.values())
        segments = [asyncio.ensure_future(self._segment(s, *batches[s.key])) for s in changed]
        try:
            await asyncio.gather(*segments)
        except Exception as exc:
            # One segment failing must not leave the others writing unseen: they stop
            # dispatching (fatal halts them) and finish what is in flight.
            if not isinstance(exc, ReconcilerError):
                self.result.fatal = _internal_error(exc)
            elif self.result.fatal is None:
                self.result.fatal = exc
            await asyncio.gather(*segments, return_exceptions=True)
            raise

    async def _segment(self, seg: SegmentPlan, adds: list[_Batch], removes: list[_Batch]) -> None:
        """One segment's pipeline: its adds, re-read rounds after conflicts, its removals
        (never before its own adds are done), then its verification. Segments run side by
        side, so one that finishes early removes and verifies while the others still add:
        no phase waits for the slowest segment."""
        await self._run_batches(adds)
        for _ in range(MAX_ADD_ROUNDS - 1):
            if seg.key not in self._reread or self._halted:
                break
            retry = await self._missing_after_reread(seg)
            self._total += len(retry)
            await self._run_batches(retry)
        await self._run_batches(removes)
        if not self._halted:
            await self._verify(seg)

    def _settle(self, changed: tuple[SegmentPlan, ...]) -> None:
        """Changes are recorded as they happen, not all up front as not attempted: at
        80,000 changes that costs 0.1 s before the first write. So when anything was left
        undone or went wrong, record what no batch did as not attempted (a stop, a fatal
        error, a re-read that failed) and list the changes in plan order, for the summary."""
        rank = {s.key: i for i, s in enumerate(changed)}
        self.result.verification.sort(key=lambda v: rank[v.segment_id])
        done = self.result.changes
        planned = sum(len(s.add) + len(s.remove) for s in changed)
        if len(done) == self._early + planned and not self._troubled:
            return
        ordered = dict(list(done.items())[: self._early])  # setup's records come first
        for seg in changed:
            for action, ids in _actions(seg):
                for pid in ids:
                    key = (seg.key, action, pid)
                    change = done.get(key)
                    if change is None:
                        change = ChangeResult(seg.key, seg.name, action, pid, "not_attempted")
                    ordered[key] = change
        self.result.changes = ordered

    @property
    def _halted(self) -> bool:
        return self.stop.is_set() or self.result.fatal is not None

    async def _run_batches(self, batches: list[_Batch]) -> None:
        async def one(batch: _Batch) -> None:
            # A lane per request in flight, taken in order: the batches queue by segment,
            # and a stop request leaves every batch still waiting unsent.
            async with self._lanes:
                if self._halted:
                    return
                await self._send(batch)
            self._done += 1
            if self.on_progress:
                self.on_progress(Progress(self._done, self._total))

        await asyncio.gather(*(one(b) for b in batches))

    async def _send(self, batch: _Batch) -> None:
        with sending(SendMark()) as mark:
            self._sending[id(batch)] = (batch, mark)
            await self._attempt(batch)  # cancelled, it stays listed: abandoned() needs it
        del self._sending[id(batch)]

    async def _attempt(self, batch: _Batch) -> None:
        try:
            if batch.action == "add":
                await self.client.add_members(batch.seg.key, batch.ids)
            else:
                await self.client.remove_members(batch.seg.key, batch.ids)
        except ConflictError as exc:
            self._gave_up = 0  # the store answers
            # Some are members already; the API doesn't say whether the rest landed.
            for pid in _ids_named(exc.item_errors, batch.ids):
                self._record(batch, pid, "already")
            self._reread.add(batch.seg.key)
            return
        except UnprocessableError as exc:
            self._gave_up = 0
            named = _ids_named(exc.item_errors, batch.ids)
            for pid in batch.ids:
                if pid in named:
                    self._record(batch, pid, "failed", named[pid])
                elif not named:
                    self._record(batch, pid, "failed", exc.message)
            if batch.action == "add" and len(named) < len(batch.ids):
                self._reread.add(batch.seg.key)  # partial success: find what landed
            return
        except StoppedError as exc:
            status, reason = _cut_short(exc)
            if status != "not_attempted":  # else recorded as not attempted when settling
                for pid in batch.ids:
                    self._record(batch, pid, status, reason)
            return
        except (AuthenticationError, PermissionDeniedError) as exc:
            self.result.fatal = exc  # every later request would fail the same way
            self._fail(batch, exc.message)
            return
        except (NetworkError, RetriesExhaustedError) as exc:
            self._fail(batch, exc.message)
            self._gave_up += 1
            if self._gave_up >= GIVE_UP_STREAK and self.result.fatal is None:
                self.result.fatal = type(exc)(
                    f"{GIVE_UP_STREAK} requests in a row gave up, the last: {exc.message}; "
                    "sending no more (run apply again once the store answers)"
                )
            return
        except ReconcilerError as exc:  # 404 and other API errors
            self._fail(batch, exc.message)
            self._gave_up = 0
            return
        self._gave_up = 0
        for pid in batch.ids:
            self._record(batch, pid, "applied")

    def _fail(self, batch: _Batch, reason: str) -> None:
        for pid in batch.ids:
            self._record(batch, pid, "failed", reason)

    async def _missing_after_reread(self, seg: SegmentPlan) -> list[_Batch]:
        self._reread.discard(seg.key)
        try:
            live = (await read_members(self.client, [seg.key])).members[seg.key]
        except ReconcilerError as exc:
            log.warning("could not re-read a segment after conflicts: %s", exc.message)
            return []
        missing = []
        for pid in seg.add:
            current = self.result.changes.get((seg.key, "add", pid))
            if pid in live:
                if current is None or current.status != "applied":
                    self._record(_Batch(seg, "add", ()), pid, "already")
            elif current is None or current.status != "failed":
                missing.append(pid)
        return [_Batch(seg, "add", tuple(c)) for c in chunk_adds(missing)]

    async def _verify(self, seg: SegmentPlan) -> None:
        """One count request for a clean segment; a full re-read where anything went wrong
        (a failure, a conflict) or the count is off, to say exactly what differs."""
        if seg.key not in self._touched:
            return  # nothing was attempted: there is nothing to check
        try:
            if seg.key not in self._troubled:
                count = await self.client.count_segment_members(seg.key)
                if count is not None and count == len(seg.target):
                    self.result.verification.append(Verification(seg.key, seg.name, 0, 0))
                    return
            live = (await read_members(self.client, [seg.key])).members[seg.key]
        except ReconcilerError as exc:
            self.result.verify_error = exc.message
            return
        self._compare(seg, live)

    def _compare(self, seg: SegmentPlan, live: frozenset[str]) -> None:
        target = seg.target
        missing = len(target - live)
        extra = len(live - target) if seg.prune else len(live & frozenset(seg.remove))
        self.result.verification.append(Verification(seg.key, seg.name, missing, extra))
        # What the store holds trumps what a response implied (e.g. a lost response).
        for action, ids in _actions(seg):
            for pid in ids:
                change = self.result.changes.get((seg.key, action, pid))
                landed = (pid in live) == (action == "add")
                if change is None:
                    if landed:
                        self._record(_Batch(seg, action, ()), pid, "already")
                elif change.status in ("failed", "unknown") and landed:
                    change.status = "applied"
                    change.reason = "confirmed by re-reading the segment"

    # ---- setup: segments and shopper profiles, before any membership change -----------

    def _step(
        self,
        kind: SetupKind,
        subject: str,
        status: Status,
        reason: str | None = None,
        made: str | None = None,
    ) -> None:
        self._setup[(kind, subject)] = SetupResult(kind, subject, status, reason, made)

    async def _guarded(
        self, call: Awaitable[T], steps: Sequence[tuple[SetupKind, str]]
    ) -> tuple[T | None, ReconcilerError | None]:
        """(result, error) of the setup write for `steps`. A rejected token or a missing
        scope is fatal: every later request would fail the same way."""
        result: T | None = None
        error: ReconcilerError | None = None
        with sending(SendMark()) as mark:
            # Kept after the call: a step it sent may be cut off while its answer is
            # still being resolved (a re-read); abandoned() needs to know it was sent.
            self._setup_calls.append((list(steps), mark))
            try:
                result = await call
            except (AuthenticationError, PermissionDeniedError) as exc:
                self.result.fatal = error = exc
            except ReconcilerError as exc:
                error = exc
        return result, error

    async def _prepare(self) -> Plan:
        plan = self.plan
        creates = [s for s in plan.segments if s.create]
        updates = [s for s in plan.segments if s.changes and not s.create]
        for s in creates:
            self._step("create_segment", s.name, "not_attempted")
        for s in updates:
            self._step("update_segment", s.name, "not_attempted", None, s.segment_id)
        for p in plan.create_profiles:
            self._step("create_profile", f"customer {p.customer_id}", "not_attempted")
        made: dict[str, str] = {}
        if creates or updates:
            await asyncio.gather(self._create_segments(creates, made), self._update(updates))
        profiles: dict[int, str] = {}
        if plan.create_profiles and not self._halted:
            await self._create_profiles([p.customer_id for p in plan.create_profiles], profiles)
        self.result.setup = list(self._setup.values())
        return self._materialise(plan, made, profiles)

    def _materialise(self, plan: Plan, made: dict[str, str], profiles: dict[int, str]) -> Plan:
        """The plan as the membership phase runs it: created segments with their ids, new
        profiles among the adds. What setup could not make fails only its own changes."""
        self._materialised = True
        segments = []
        for seg in plan.segments:
            sid = made.get(seg.name) if seg.create else seg.segment_id
            made_profiles = {profiles[c] for c in seg.add_customers if c in profiles}
            add = tuple(sorted(set(seg.add) | made_profiles)) if made_profiles else seg.add
            done = replace(seg, segment_id=sid, add=add, add_customers=())
            segments.append(done)
            if sid is None:  # a segment to create that was not created (or not known to be)
                step = self._setup[("create_segment", seg.name)]
                status: Status = "failed" if step.status == "failed" else "not_attempted"
                why = f"the segment was not created: {step.reason}" if status == "failed" else None
                for pid in done.add:
                    self._record(_Batch(done, "add", ()), pid, status, why)
            for cid in seg.add_customers:
                if cid in profiles:
                    continue  # among the adds now (or failed with its segment, above)
                profile = self._setup[("create_profile", f"customer {cid}")]
                if profile.status != "failed":  # not attempted, or unknown: nothing sent
                    status, why = "not_attempted", None
                else:
                    status, why = "failed", f"no shopper profile: {profile.reason}"
                self._record(_Batch(done, "add", ()), f"customer {cid}", status, why, cid)
        return replace(plan, segments=tuple(segments))

    async def _create_segments(self, segs: list[SegmentPlan], made: dict[str, str]) -> None:
        async def one(batch: list[SegmentPlan], again: bool = True) -> None:
            if self._halted:
                return
            body = [{"name": s.name, "description": s.description or ""} for s in batch]
            steps: list[tuple[SetupKind, str]] = [("create_segment", s.name) for s in batch]
            rows, exc = await self._guarded(self.client.create_segments(body), steps)
            reason = exc.message if exc else None
            names = {s.name for s in batch}
            for row in rows or []:
                name, sid = row.get("name"), row.get("id")
                if name in names and is_uuid(sid):
                    made[str(name)] = normalize_uuid(str(sid))
                    self._step("create_segment", str(name), "applied", None, made[str(name)])
            missing = [s for s in batch if s.name not in made]
            if missing and self._halted:
                status, why = _unsettled(exc, "no id returned", creating=True)
                for s in missing:
                    self._step("create_segment", s.name, status, why)
            elif missing:
                # A lost response, or a 409: a retried request may have created it, or
                # someone else did. The store says which names exist now.
                try:
                    live = {s.name: s.id for s in await read_segments(self.client)}
                except ReconcilerError as exc:
                    live, reason = {}, reason or exc.message
                absent = []
                for s in missing:
                    if s.name in live:
                        made[s.name] = live[s.name]
                        note = "it exists in the store (created since the plan, or by a retry)"
                        self._step("create_segment", s.name, "already", note, live[s.name])
                    else:
                        absent.append(s)
                if absent and again and live:
                    # A 409 refuses the whole batch for one name someone else took: the
                    # others were not created, so ask once more for them alone.
                    await one(absent, again=False)
                    return
                for s in absent:
                    self._step("create_segment", s.name, "failed", reason or "no id returned")

        await asyncio.gather(*(one(b) for b in _chunks(segs)))

    async def _update(self, segs: list[SegmentPlan]) -> None:
        async def one(batch: list[SegmentPlan]) -> None:
            if self._halted:
                return
            body: list[dict[str, Any]] = [
                {"id": s.segment_id, **{c.field: c.new for c in s.changes}} for s in batch
            ]
            steps: list[tuple[SetupKind, str]] = [("update_segment", s.name) for s in batch]
            _, exc = await self._guarded(self.client.update_segments(body), steps)
            if exc is None:
                for s in batch:
                    self._step("update_segment", s.name, "applied", None, s.segment_id)
                return
            if self._halted:
                status, why = _unsettled(exc, exc.message)
                for s in batch:
                    self._step("update_segment", s.name, status, why, s.segment_id)
                return
            held = set() if _refused(exc) else await self._updated_in_store(batch)
            for s in batch:
                if s.segment_id in held:
                    self._step("update_segment", s.name, "already", UPDATED, s.segment_id)
                else:
                    self._step("update_segment", s.name, "failed", exc.message, s.segment_id)

        await asyncio.gather(*(one(b) for b in _chunks(segs)))

    async def _updated_in_store(self, batch: list[SegmentPlan]) -> set[str]:
        """The ids of the segments whose fields the store holds as planned: a lost answer,
        a timeout or a 5xx may have come after the update was made."""
        try:
            live = {
                s.id: {"name": s.name, "description": s.description}
                for s in await read_segments(self.client)
            }
        except ReconcilerError as exc:
            log.warning("could not re-read the segments after an update failed: %s", exc.message)
            return set()
        return {
            s.segment_id
            for s in batch
            if s.segment_id in live
            and all(live[s.segment_id].get(c.field) == c.new for c in s.changes)
        }

    async def _create_profiles(self, customers: list[int], made: dict[int, str]) -> None:
        async def attempt(batch: list[int]) -> ReconcilerError | None:
            steps: list[tuple[SetupKind, str]] = [
                ("create_profile", f"customer {cid}") for cid in batch
            ]
            rows, exc = await self._guarded(self.client.create_shopper_profiles(batch), steps)
            for row in rows or []:
                cid, pid = row.get("customer_id"), row.get("id")
                if isinstance(cid, int) and cid in batch and is_uuid(pid):
                    made[cid] = normalize_uuid(str(pid))
                    self._step("create_profile", f"customer {cid}", "applied", None, made[cid])
            return exc

        async def one(batch: list[int]) -> None:
            if self._halted:
                return
            error = await attempt(batch)
            for _ in range(2):  # the first look-up, and one after a retry of the rest
                missing = [c for c in batch if c not in made]
                if not missing:
                    return
                if self._halted:
                    status, why = _unsettled(error, "not created", creating=True)
                    for cid in missing:
                        self._step("create_profile", f"customer {cid}", status, why)
                    return
                reason = error.message if error else None
                # A 409 (someone made one since the plan), a lost response or a partial
                # answer: the store says who has a profile now.
                try:
                    found = await lookup_customers(self.client, ids=missing)
                except ReconcilerError as exc:
                    found, reason = {}, reason or exc.message
                for cid in missing:
                    pid = found[cid].profile_id if cid in found else None
                    if pid is not None:
                        made[cid] = pid
                        self._step("create_profile", f"customer {cid}", "already", None, pid)
                rest = [c for c in missing if c not in made]
                if rest and isinstance(error, ConflictError):  # it blocked the batch: send the rest
                    error = await attempt(rest)
                    continue
                for cid in rest:
                    self._step(
                        "create_profile", f"customer {cid}", "failed", reason or "not created"
                    )
                return

        await asyncio.gather(*(one(b) for b in _chunks(customers)))


def _internal_error(exc: Exception) -> ReconcilerError:
    return ReconcilerError(
        f"internal error ({type(exc).__name__}); please report it. "
        "Run with -vv for details; run plan to see where the store stands"
    )
