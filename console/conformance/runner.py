"""Run the plan: a few operations at once, each operation's checks in order, one verdict each.

Checks of one operation run one after another so that they never disturb each other's
counters; a bounded number of operations run side by side, which keeps the shipped catalogue
under a minute. The rate-limit checks that exhaust a quota run after everything else, one at a
time, once nothing else needs those quotas or shares the gateway with a burst.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import Any

from console.catalogue import Catalogue
from console.conformance.evidence import CheckFailed, CheckNotApplicable, CheckSkipped, Evidence
from console.conformance.plan import PlannedCheck, make_plan
from console.conformance.verdict import FAILED, NOT_APPLICABLE, PASSED, SKIPPED, Verdict
from console.policy import WRITES_ALLOWED, WritePolicy

#: on_progress(done, total, verdict): called once per verdict, in completion order.
ProgressCallback = Callable[[int, int, Verdict], None]

#: No single check may take longer than this; a hung gateway fails the check, not the run.
CHECK_TIMEOUT_S = 60.0
#: A run shares its checks with a second process only when it has at least this many left to
#: decide besides the bursts: below that, the process's start-up costs more than it saves.
SHARD_MIN_CHECKS = 120

#: ``shard(items, lanes, reserved, faults_enabled, on_result)`` decides ``items`` (plan index,
#: check) elsewhere, ``lanes`` operations at once, and calls ``on_result(index, verdict)`` for
#: each as it is decided; it raises :class:`ShardFailed` when it cannot finish them.
Shard = Callable[..., Any]


class ShardFailed(Exception):
    """The other process stopped before deciding every check it was given; says why."""


class Runner:
    """Check contracts of operations against one gateway.

    ``profile`` names the gateway (``base_url``, ``token_url``, ``client_id``,
    ``client_secret``); ``caller`` is an open ``console.caller.Caller``; ``feed`` a started
    ``console.events.EventFeed`` or None (kafka-event checks are then skipped).
    ``faults_enabled=None`` asks the gateway (an ``X-Fault-Abort`` probe). ``allow_load``
    permits quota exhaustion (None: only against the embedded sandbox). ``operations`` is a
    list of (path, method, action) and ``contracts`` a list of slugs, both None for all.
    ``event_deadline_s`` bounds the wait for a call's Kafka event (default 10 s).
    ``writes`` says whether probes that may change state may be sent: when not, every check of an
    operation that may change state is ``skipped`` with the policy's reason, and the probe
    refuses any other state-changing request the same way (``console.session`` decides it).
    """

    def __init__(
        self,
        profile: Any,
        catalogue: Catalogue,
        *,
        caller: Any,
        feed: Any = None,
        writes: WritePolicy = WRITES_ALLOWED,
        allow_load: bool | None = None,
        faults_enabled: bool | None = None,
        thorough: bool = False,
        operations: Iterable[tuple[str, str, str]] | None = None,
        contracts: Iterable[str] | None = None,
        on_progress: ProgressCallback | None = None,
        concurrency: int = 6,
        http: Any = None,
        event_deadline_s: float | None = None,
        plan: list[PlannedCheck] | None = None,
        reserved: Iterable[tuple[str, str, str]] = (),
        shard: Shard | None = None,
        on_result: Callable[[int, Verdict], None] | None = None,
    ) -> None:
        self.profile = profile
        self.catalogue = catalogue
        self.caller = caller
        self.feed = feed
        self.writes = writes
        self.allow_load = bool(getattr(profile, "embedded", False)) if allow_load is None else allow_load
        self.faults_enabled = faults_enabled
        self.thorough = thorough
        self.on_progress = on_progress
        self.concurrency = max(1, concurrency)
        self.http = http
        self.event_deadline_s = event_deadline_s
        #: Operations other processes will exhaust: helpers keep off them (a shard's runner).
        self.reserved = set(reserved)
        #: Decides part of the plan in another process (``console.conformance.shard``).
        self.shard = shard
        #: Called with each verdict's index in the plan (a shard's runner reports through it).
        self.on_result = on_result
        #: What the operator should know about how the run went (a shard that failed).
        self.notes: list[str] = []
        #: Raises ValueError now, naming a bad --operation or --contract. A shard's runner is
        #: given its part of the plan: which operations overrun a deadline or exhaust a quota
        #: is decided over the whole catalogue, not over a part of it.
        self.plan: list[PlannedCheck] = plan if plan is not None else make_plan(
            catalogue,
            operations=list(operations) if operations is not None else None,
            contracts=list(contracts) if contracts is not None else None,
            thorough=thorough,
        )
        if not writes.allowed:
            for item in self.plan:
                op = item.operation
                reason = writes.refusal(op.method, op.action)
                if item.decided is None and reason:
                    item.decided = Verdict(op.path, op.method, op.action, item.slug, SKIPPED,
                                           f"{reason}: {op.label()} may change state")
        self.verdicts: list[Verdict] = []

    @property
    def total(self) -> int:
        return len(self.plan)

    async def run(self) -> list[Verdict]:
        """Every planned check's verdict, in plan order (operations × contracts)."""
        from console.conformance.probe import Probe

        self.verdicts = []
        if not self.plan:
            return []
        async with Probe.open(self.profile, self.catalogue, caller=self.caller, feed=self.feed,
                              allow_load=self.allow_load, faults_enabled=self.faults_enabled,
                              thorough=self.thorough, http=self.http,
                              writes=self.writes) as probe:
            self.faults_enabled = probe.faults_enabled
            if self.event_deadline_s is not None:
                probe.event_deadline_s = self.event_deadline_s
            for item in self.plan:
                if item.exhaust and item.decided is None:
                    probe.reserve(item.operation)
            for op in self.catalogue.operations:
                if op.key in self.reserved:
                    probe.reserve(op)
            groups: dict[tuple[str, str, str], list[PlannedCheck]] = {}
            for item in self.plan:
                groups.setdefault(item.operation.key, []).append(item)
            results: dict[int, Verdict] = {}
            index = {id(item): n for n, item in enumerate(self.plan)}
            bursts = [p for p in self.plan if p.exhaust and p.decided is None]
            burst_ids = {id(p) for p in bursts}
            away = self._share(list(groups.values()), burst_ids)
            gate = asyncio.Semaphore(self.concurrency - (self.concurrency // 2 if away else 0))

            def record(n: int, verdict: Verdict) -> None:
                if n in results:
                    return
                results[n] = verdict
                self.verdicts.append(verdict)
                if self.on_result is not None:
                    self.on_result(n, verdict)
                if self.on_progress is not None:
                    self.on_progress(len(self.verdicts), self.total, verdict)

            async def decide(item: PlannedCheck) -> None:
                record(index[id(item)], await self._decide(probe, item))

            async def run_operation(items: list[PlannedCheck], gate: asyncio.Semaphore = gate
                                    ) -> None:
                async with gate:
                    if self.allow_load and any(id(p) in burst_ids for p in items):
                        from console.conformance.checks.rate_limit import await_quota

                        await await_quota(probe, items[0].operation)
                    for item in items:
                        if id(item) not in burst_ids and index[id(item)] not in results:
                            await decide(item)

            async def run_away() -> None:
                lanes = self.concurrency // 2
                sent = [(index[id(i)], i) for items in groups.values() for i in items
                        if id(i) in away]
                await self._run_shard(sent, lanes, probe, record)
                # What the other process left undecided (it failed) is decided here, with the
                # lanes it had, beside this process's own.
                left = [[i for i in items if index[id(i)] not in results]
                        for items in groups.values() if any(id(i) in away for i in items)]
                own_gate = asyncio.Semaphore(lanes)
                await asyncio.gather(*(run_operation(items, own_gate) for items in left if items))

            here = [items for items in groups.values() if not any(id(i) in away for i in items)]
            await _all([run_operation(items) for items in here] + ([run_away()] if away else []))
            # The quota bursts last and one at a time: a thousand calls slow everything else
            # down, and a burst must not share the gateway with another burst or a latency check.
            for item in bursts:
                await decide(item)
        return [results[n] for n in range(len(self.plan))]

    def _share(self, groups: list[list[PlannedCheck]], burst_ids: set[int]) -> set[int]:
        """The checks (by ``id``) another process decides: about half of the operations with
        checks to make, by count, never one whose quota a burst exhausts (its quota wait and
        its burst stay here). Nothing when the run is too small to gain from a second process."""
        if self.shard is None or self.concurrency < 2:
            return set()
        todo = [[i for i in items if i.decided is None] for items in groups]
        if sum(len(t) for t in todo) - len(burst_ids) < SHARD_MIN_CHECKS:
            return set()
        weight = {"here": 0, "away": 0}
        away: set[int] = set()
        for items, undecided in zip(groups, todo, strict=True):
            if any(id(i) in burst_ids for i in items):
                weight["here"] += len(undecided)
        for items, undecided in zip(groups, todo, strict=True):
            if not undecided or any(id(i) in burst_ids for i in items):
                continue
            side = "away" if weight["away"] < weight["here"] else "here"
            weight[side] += len(undecided)
            if side == "away":
                away.update(id(i) for i in items)
        return away

    async def _run_shard(self, sent: list[tuple[int, PlannedCheck]], lanes: int, probe: Any,
                         record: Callable[[int, Verdict], None]) -> None:
        """Hand ``sent`` to the other process; a failure is noted, and its checks left to the
        caller of this (``run`` decides them here)."""
        assert self.shard is not None
        try:
            await self.shard(sent, lanes, probe.reserved, probe.faults_enabled, record)
        except ShardFailed as exc:
            self.notes.append(f"the second checking process failed ({exc}); its remaining "
                              "checks ran in this one")

    async def _decide(self, probe: Any, item: PlannedCheck) -> Verdict:
        op = item.operation
        if item.decided is not None:
            return item.decided
        from console.conformance.checks import check_for

        evidence = Evidence()
        started = time.perf_counter()
        try:
            reason = await asyncio.wait_for(check_for(item.slug)(probe, item, evidence), CHECK_TIMEOUT_S)
            word = PASSED
        except CheckFailed as exc:
            word, reason = FAILED, str(exc)
        except CheckSkipped as exc:
            word, reason = SKIPPED, str(exc)
        except CheckNotApplicable as exc:
            word, reason = NOT_APPLICABLE, str(exc)
        except TimeoutError:
            word, reason = FAILED, f"no verdict within {CHECK_TIMEOUT_S:.0f} s (the gateway hung?)"
        except Exception as exc:  # a probe that could not even be made is a failure, with its cause
            word, reason = FAILED, f"probe error: {type(exc).__name__}: {exc}"
        elapsed = (time.perf_counter() - started) * 1000
        return Verdict(op.path, op.method, op.action, item.slug, word, reason,
                       evidence.to_dict(), elapsed)


async def _all(coroutines: list[Any]) -> None:
    """Run them all; when one raises (or the run is cancelled), the others are cancelled and
    waited for before the error goes on: no lane, and no second process, outlives the run."""
    tasks = [asyncio.ensure_future(c) for c in coroutines]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
