"""Runs a Plan through the client.

Order and guarantees:
- adds before removes; every batch at most 50 adds, removals in bounded `id:in` chunks;
- a worker pool as wide as the client's in-flight limit, so a stop request (Ctrl-C)
  stops dispatching at once while in-flight requests finish;
- one failed batch never stops the others; only a rejected token or missing scope
  (which would fail every request) ends the run early;
- a 409 or a partial 422 on an add means "re-read, then send only what is still
  missing": the API does not say whether the rest of the batch landed;
- afterwards the touched segments are re-read and compared with the plan's target.
Every step is idempotent, so re-running apply after any stop converges."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from reconciler.client import BigCommerceClient, chunk_adds, chunk_removals
from reconciler.errors import (
    ApiError,
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    ReconcilerError,
    UnprocessableError,
)
from reconciler.live import read_members
from reconciler.model import is_uuid, normalize_uuid
from reconciler.outcome import Action, ApplyResult, ChangeResult, Progress, Status, Verification
from reconciler.plan import Plan, SegmentPlan

log = logging.getLogger("reconciler.apply")

# Re-read rounds after conflicts; each round only sends what is still missing.
MAX_ADD_ROUNDS = 3


@dataclass(frozen=True, slots=True)
class _Batch:
    seg: SegmentPlan
    action: Action
    ids: tuple[str, ...]


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
        self.on_progress = on_progress
        self.workers = workers or client.settings.max_in_flight
        self.result = ApplyResult()
        self._reread: set[str] = set()
        self._done = 0
        self._total = 0

    def _record(self, batch: _Batch, pid: str, status: Status, reason: str | None = None) -> None:
        key = (batch.seg.segment_id, batch.action, pid)
        self.result.changes[key] = ChangeResult(
            batch.seg.segment_id, batch.seg.name, batch.action, pid, status, reason
        )

    async def run(self) -> ApplyResult:
        changed = self.plan.changed
        for seg in changed:  # everything starts as not attempted; batches overwrite it
            for pid in seg.add:
                self._record(_Batch(seg, "add", ()), pid, "not_attempted")
            for pid in seg.remove:
                self._record(_Batch(seg, "remove", ()), pid, "not_attempted")
        adds = [_Batch(s, "add", tuple(c)) for s in changed for c in chunk_adds(list(s.add))]
        removes = [
            _Batch(s, "remove", tuple(c)) for s in changed for c in chunk_removals(list(s.remove))
        ]
        self._total = len(adds) + len(removes)
        await self._run_batches(adds)
        for _ in range(MAX_ADD_ROUNDS - 1):
            if not self._reread or self._halted:
                break
            retry = await self._missing_after_reread()
            self._total += len(retry)
            await self._run_batches(retry)
        await self._run_batches(removes)
        if not self._halted:
            await self._verify(changed)
        return self.result

    @property
    def _halted(self) -> bool:
        return self.stop.is_set() or self.result.fatal is not None

    async def _run_batches(self, batches: list[_Batch]) -> None:
        queue: asyncio.Queue[_Batch] = asyncio.Queue()
        for b in batches:
            queue.put_nowait(b)

        async def worker() -> None:
            while not queue.empty() and not self._halted:
                batch = queue.get_nowait()
                await self._send(batch)
                self._done += 1
                if self.on_progress:
                    self.on_progress(Progress(self._done, self._total))

        await asyncio.gather(*(worker() for _ in range(min(self.workers, len(batches)))))
        if self.stop.is_set():
            self.result.interrupted = True

    async def _send(self, batch: _Batch) -> None:
        try:
            if batch.action == "add":
                await self.client.add_members(batch.seg.segment_id, batch.ids)
            else:
                await self.client.remove_members(batch.seg.segment_id, batch.ids)
        except ConflictError as exc:
            # Some are members already; the API doesn't say whether the rest landed.
            for pid in _ids_named(exc.item_errors, batch.ids):
                self._record(batch, pid, "already")
            self._reread.add(batch.seg.segment_id)
            return
        except UnprocessableError as exc:
            named = _ids_named(exc.item_errors, batch.ids)
            for pid in batch.ids:
                if pid in named:
                    self._record(batch, pid, "failed", named[pid])
                elif not named:
                    self._record(batch, pid, "failed", exc.message)
            if batch.action == "add" and len(named) < len(batch.ids):
                self._reread.add(batch.seg.segment_id)  # partial success: find what landed
            return
        except (AuthenticationError, PermissionDeniedError) as exc:
            self.result.fatal = exc  # every later request would fail the same way
            self._fail(batch, exc.message)
            return
        except NotFoundError as exc:
            self._fail(batch, exc.message)
            return
        except (ApiError, ReconcilerError) as exc:
            self._fail(batch, exc.message)
            return
        for pid in batch.ids:
            self._record(batch, pid, "applied")

    def _fail(self, batch: _Batch, reason: str) -> None:
        for pid in batch.ids:
            self._record(batch, pid, "failed", reason)

    async def _missing_after_reread(self) -> list[_Batch]:
        segs = {s.segment_id: s for s in self.plan.changed if s.segment_id in self._reread}
        self._reread = set()
        try:
            members, _ = await read_members(self.client, segs)
        except ReconcilerError as exc:
            log.warning("could not re-read segments after conflicts: %s", exc.message)
            return []
        batches: list[_Batch] = []
        for sid, seg in segs.items():
            live = members[sid]
            missing = []
            for pid in seg.add:
                current = self.result.changes[(sid, "add", pid)]
                if pid in live:
                    if current.status != "applied":
                        self._record(_Batch(seg, "add", ()), pid, "already")
                elif current.status != "failed":
                    missing.append(pid)
            batches += [_Batch(seg, "add", tuple(c)) for c in chunk_adds(missing)]
        return batches

    async def _verify(self, changed: tuple[SegmentPlan, ...]) -> None:
        """One count request per clean segment; a full re-read where anything went wrong
        (a failure, a conflict) or the count is off, to say exactly what differs."""
        touched = {
            c.segment_id for c in self.result.changes.values() if c.status != "not_attempted"
        }
        troubled = {c.segment_id for c in self.result.changes.values() if c.status != "applied"}
        segs = [s for s in changed if s.segment_id in touched]
        try:
            counts = await asyncio.gather(
                *(
                    self.client.count_segment_members(s.segment_id)
                    for s in segs
                    if s.segment_id not in troubled
                )
            )
            clean = [s for s in segs if s.segment_id not in troubled]
            full = [s for s in segs if s.segment_id in troubled]
            for seg, count in zip(clean, counts, strict=True):
                if count is not None and count == len(seg.target):
                    self.result.verification.append(Verification(seg.segment_id, seg.name, 0, 0))
                else:
                    full.append(seg)
            members, _ = await read_members(self.client, (s.segment_id for s in full))
        except ReconcilerError as exc:
            log.warning("could not verify the result: %s", exc.message)
            return
        for seg in full:
            self._compare(seg, members[seg.segment_id])

    def _compare(self, seg: SegmentPlan, live: frozenset[str]) -> None:
        target = seg.target
        missing = len(target - live)
        extra = len(live - target) if seg.prune else len(live & frozenset(seg.remove))
        self.result.verification.append(Verification(seg.segment_id, seg.name, missing, extra))
        # What the store holds trumps what a response implied (e.g. a lost response).
        for action, ids in (("add", seg.add), ("remove", seg.remove)):
            for pid in ids:
                change = self.result.changes[(seg.segment_id, action, pid)]
                landed = (pid in live) == (action == "add")
                if change.status == "failed" and landed:
                    change.status = "applied"
                    change.reason = "confirmed by re-reading the segment"
                elif change.status == "not_attempted" and landed:
                    change.status = "already"
