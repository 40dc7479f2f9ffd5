"""The console's live connections: caller, transaction log, event feed, health polling.

Everything here runs in workers after the first frame, so the UI never waits on the network.
Views read ``runtime.caller``/``runtime.txlog`` (None until connected) and the event buffer.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any

#: How many events the console keeps for the Events view when the profile does not say
#: (its ``event_buffer``).
EVENT_BUFFER = 10_000
HEALTH_INTERVAL_S = 5.0


class Runtime:
    def __init__(self, app: Any) -> None:
        self.app = app
        self.services = app.services
        self.caller: Any = None
        self.txlog: Any = None
        self.feed: Any = None
        #: Newest on the right; the Events view copies it on its 10 Hz tick.
        self.events: deque[Any] = deque(maxlen=EVENT_BUFFER)
        self.events_received = 0
        self.events_updated = 0
        #: The feed's last ``FeedStatus`` (lag, gaps after a broker reset), None before the first.
        self.feed_status: Any = None
        self._health_timer = None

    @property
    def base_url(self) -> str | None:
        return getattr(self.services.profile, "base_url", None) if self.services else None

    def start(self) -> None:
        self.app.run_worker(
            self._connect(), name="connect", group="connect", exclusive=True, exit_on_error=False
        )

    async def _connect(self) -> None:
        app = self.app
        if self.services is not None and self.services.profile is None:
            # The log alone (read it without a gateway, e.g. on another machine).
            self.txlog = await asyncio.to_thread(_open_log, self.services.txlog_path)
            app.runtime_ready()
            return
        app.update_connection(gateway="connecting", kafka="connecting")
        try:
            if self.services is None:
                self.services = await asyncio.to_thread(app._connect_factory)
            await self._open(self.services)
        except Exception as exc:  # shown in the header; the console stays usable offline
            app.update_connection(
                gateway="down", gateway_error=_one_line(exc), kafka="not connected"
            )
            app.notify(f"{app.labels('gateway')}: {_one_line(exc)}", severity="error", timeout=10)
            return
        self._health_timer = app.set_interval(HEALTH_INTERVAL_S, self._poll_soon)
        await self.poll_health()

    async def _open(self, services: Any) -> None:
        from console.caller import Caller

        self.app.update_connection(profile=services.profile.name)
        self.txlog = await asyncio.to_thread(_open_log, services.txlog_path)
        caller = Caller(services.profile, self.app.catalogue, self.txlog)
        await caller.__aenter__()
        self.caller = caller
        self.app.runtime_ready()
        if getattr(services.profile, "kafka_bootstrap", None):
            self.app.run_worker(
                self._consume(services),
                name="event-feed",
                group="event-feed",
                exclusive=True,
                exit_on_error=False,
            )
        else:
            self.app.update_connection(kafka="not connected")

    async def _consume(self, services: Any) -> None:
        from console.events.feed import EventFeed

        profile = services.profile
        kwargs = profile.kafka_client_kwargs()
        kwargs.pop("bootstrap_servers", None)
        buffer_size = getattr(profile, "event_buffer", EVENT_BUFFER)
        if buffer_size != self.events.maxlen:
            self.events = deque(self.events, maxlen=buffer_size)
        self.feed = EventFeed(
            profile.kafka_bootstrap,
            start=services.events_from,
            buffer_size=buffer_size,
            kafka_kwargs=kwargs,
            txlog=self.txlog,
            on_event=self.add_event,
            on_update=self.update_event,
            on_status=self._feed_status,
        )
        await self.feed.start()

    def add_event(self, event: Any) -> None:
        """A new event (the feed's callback; the Events view repaints on its own tick)."""
        self.events.append(event)
        self.events_received += 1

    def update_event(self, event: Any) -> None:
        """An event seen before, now linked to its transaction: swap it in place."""
        for index in range(len(self.events) - 1, -1, -1):
            if self.events[index].position == event.position:
                self.events[index] = event
                self.events_updated += 1
                return

    def _feed_status(self, status: Any) -> None:
        self.feed_status = status
        self.app.update_connection(kafka=status.state, kafka_error=status.error or "")

    def _poll_soon(self) -> None:
        self.app.run_worker(self.poll_health(), group="health", exclusive=True, exit_on_error=False)

    async def poll_health(self) -> None:
        """Gateway ``/healthz`` and the token's remaining life, into the header."""
        from datetime import timedelta

        import httpx2

        try:
            async with httpx2.AsyncClient(timeout=2.0) as client:
                response = await client.get(f"{self.base_url.rstrip('/')}/healthz")
            gateway = "up" if response.status_code == 200 else "down"
            error = "" if gateway == "up" else f"/healthz answered {response.status_code}"
        except Exception as exc:
            gateway, error = "down", _one_line(exc)
        expires_at, token_error = None, ""
        if self.caller is not None:
            try:
                state = await self.caller.token_state()
                if state.valid and state.expires_in_s is not None:
                    expires_at = self.app.clock() + timedelta(seconds=state.expires_in_s)
                token_error = state.error or ""
            except Exception as exc:
                token_error = _one_line(exc)
        self.app.update_connection(
            gateway=gateway,
            gateway_error=error,
            token_expires_at=expires_at,
            token_error=token_error,
        )

    async def stop(self) -> None:
        """Stop in reverse order of start, each step on its own: one failure stops nothing else."""
        if self._health_timer is not None:
            self._health_timer.stop()
        if self.feed is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.feed.stop(), 5)
        if self.caller is not None:
            with contextlib.suppress(Exception):
                await self.caller.__aexit__(None, None, None)
        if self.txlog is not None and hasattr(self.txlog, "close"):
            await asyncio.to_thread(self.txlog.close)
        if self.services is not None:
            await asyncio.to_thread(self.services.close)


def _open_log(path: Any) -> Any:
    """The transaction log; rows left pending by a process that died are marked interrupted."""
    from console.txlog import TransactionLog

    txlog = TransactionLog(path)
    txlog.mark_interrupted()
    return txlog


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]
