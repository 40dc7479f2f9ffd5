"""One conformance run with everything it needs opened and closed around it.

``run_conformance`` opens the caller (recording into the given transaction log), starts the
event feed when the profile names Kafka, waits for the feed to be reading, runs the checks and
closes both — the CLI, the benchmark and the console's ``:check`` view all go through it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

from console.catalogue import Catalogue
from console.conformance.runner import ProgressCallback, Runner
from console.conformance.verdict import Verdict

#: How long the feed may take to connect before the run starts without it waiting longer.
FEED_CONNECT_S = 15.0


async def run_conformance(
    profile: Any,
    catalogue: Catalogue,
    txlog: Any,
    *,
    operations: Iterable[tuple[str, str, str]] | None = None,
    contracts: Iterable[str] | None = None,
    allow_load: bool | None = None,
    thorough: bool = False,
    faults_enabled: bool | None = None,
    on_progress: ProgressCallback | None = None,
    concurrency: int = 6,
    event_deadline_s: float | None = None,
    caller_options: dict[str, Any] | None = None,
) -> list[Verdict]:
    """Check ``profile``'s gateway; one verdict per (operation, contract).

    ``profile`` must be connected (``console.caller.connect_profile`` fills a sandbox profile).
    ``caller_options`` go to ``Caller`` (e.g. ``transport``); the retry backoff base is kept small
    so retry checks stay quick. Raises ValueError for an unknown --operation or --contract.
    """
    from console.caller import Caller

    runner_args = dict(allow_load=allow_load, faults_enabled=faults_enabled, thorough=thorough,
                       operations=operations, contracts=contracts, on_progress=on_progress,
                       concurrency=concurrency, event_deadline_s=event_deadline_s)
    options = {"retry_base_s": 0.05, **(caller_options or {})}
    async with Caller(profile, catalogue, txlog, **options) as caller:
        feed = await open_feed(profile, txlog)
        try:
            runner = Runner(profile, catalogue, caller=caller, feed=feed, **runner_args)
            return await runner.run()
        finally:
            if feed is not None:
                await feed.stop()


async def open_feed(profile: Any, txlog: Any = None) -> Any:
    """A started event feed for ``profile``'s Kafka, reading; None when it names no Kafka."""
    if not getattr(profile, "kafka_bootstrap", None):
        return None
    from console.events.feed import EventFeed

    kwargs = profile.kafka_client_kwargs()
    kwargs.pop("bootstrap_servers", None)
    feed = EventFeed(profile.kafka_bootstrap, start="latest", kafka_kwargs=kwargs, txlog=txlog)
    await feed.start()
    deadline = time.monotonic() + FEED_CONNECT_S
    while feed.status.state != "connected" and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    return feed
