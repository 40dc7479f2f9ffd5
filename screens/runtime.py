"""The console's live state over its session: the event buffer, the feed's status, health polling.

The :class:`console.session.Session` owns the connections and every policy (read-only,
redaction, the rate budget); this runtime opens it in a worker after the first frame, so the UI
never waits on the network, and keeps what only a live screen needs: the newest events for the
Events view, counters its 10 Hz tick compares, and the gateway's health in the header.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Protocol

import httpx2

from console.caller.client import explain
from console.events.feed import LIVE_FETCH_WAIT_MS
from console.events.status import FeedStatus
from console.session import Session
from screens.i18n import Labels

#: How many events the console keeps for the Events view when the profile does not say
#: (its ``event_buffer``).
EVENT_BUFFER = 10_000
HEALTH_INTERVAL_S = 5.0


class Host(Protocol):
    """What the runtime needs of the app (``screens.app.ApilogApp``), and nothing more."""

    session: Session | None
    events_from: Any
    labels: Labels
    clock: Callable[[], datetime]

    def connect_session(self) -> Session: ...
    def runtime_ready(self) -> None: ...
    def update_connection(self, **changes: Any) -> None: ...
    def notify(self, message: str, *, severity: Any = ..., timeout: float | None = ...) -> None: ...
    def run_worker(self, work: Any, *args: Any, **kwargs: Any) -> Any: ...
    def set_interval(self, interval: float, callback: Callable[[], Any]) -> Any: ...


class Runtime:
    def __init__(self, app: Host) -> None:
        self.app = app
        self.feed: Any = None
        #: Newest on the right; the Events view copies it on its 10 Hz tick.
        self.events: deque[Any] = deque(maxlen=EVENT_BUFFER)
        self.events_received = 0
        self.events_updated = 0
        #: The feed's last ``FeedStatus`` (lag, gaps after a broker reset), None before the first.
        self.feed_status: FeedStatus | None = None
        self._health_timer: Any = None

    async def connect(self) -> None:
        """Make (in a thread) and open the session, then follow the feed and the gateway's health
        (the app runs this in its "connect" worker)."""
        app = self.app
        session = app.session
        if session is None:
            try:
                session = app.session = await asyncio.to_thread(app.connect_session)
            except Exception as exc:  # the header said "connecting": it must not stay so
                app.update_connection(
                    gateway="down", gateway_error=_one_line(exc), kafka="not connected"
                )
                app.notify(f"{app.labels('gateway')}: {_one_line(exc)}", severity="error",
                           timeout=10)
                return
        if session.profile is None:
            # The log alone (read it without a gateway, e.g. on another machine).
            app.update_connection(gateway="not connected", kafka="not connected")
            await session.open()
            app.runtime_ready()
            return
        app.update_connection(gateway="connecting", kafka="connecting")
        try:
            await session.open()
        except Exception as exc:  # shown in the header; the console stays usable offline
            app.update_connection(
                gateway="down", gateway_error=_one_line(exc), kafka="not connected"
            )
            app.notify(f"{app.labels('gateway')}: {_one_line(exc)}", severity="error", timeout=10)
            return
        app.update_connection(profile=session.profile_name)
        for warning in session.warnings:
            app.notify(warning, severity="warning", timeout=20)
        app.runtime_ready()
        if session.profile is not None and session.profile.kafka_bootstrap:
            app.run_worker(
                self._consume(session),
                name="event-feed",
                group="event-feed",
                exclusive=True,
                exit_on_error=False,
            )
        else:
            app.update_connection(kafka="not connected")
        self._health_timer = app.set_interval(HEALTH_INTERVAL_S, self._poll_soon)
        await self.poll_health()

    async def _consume(self, session: Session) -> None:
        assert session.profile is not None
        buffer_size = session.profile.event_buffer
        if buffer_size != self.events.maxlen:
            self.events = deque(self.events, maxlen=buffer_size)
        self.feed = await session.open_feed(
            start=self.app.events_from,
            buffer_size=buffer_size,
            on_event=self.add_event,
            on_update=self.update_event,
            on_status=self._feed_status,
            fetch_wait_ms=LIVE_FETCH_WAIT_MS,
        )

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

    def _feed_status(self, status: FeedStatus) -> None:
        self.feed_status = status
        self.app.update_connection(kafka=status.state, kafka_error=status.error or "")

    def _poll_soon(self) -> None:
        self.app.run_worker(self.poll_health(), group="health", exclusive=True, exit_on_error=False)

    async def poll_health(self) -> None:
        """Gateway ``/healthz`` and the token's remaining life, into the header."""
        session = self.app.session
        if session is None or session.base_url is None:
            return
        try:
            verify = session.profile.http_verify() if session.profile is not None else True
            async with httpx2.AsyncClient(timeout=2.0, verify=verify) as client:
                response = await client.get(f"{session.base_url.rstrip('/')}/healthz")
            gateway = "up" if response.status_code == 200 else "down"
            error = "" if gateway == "up" else f"/healthz answered {response.status_code}"
            faults = gateway == "up" and _faults_on(response)
        except Exception as exc:
            gateway, error, faults = "down", _one_line(explain(exc, session.profile)), False
        expires_at, token_error = None, ""
        if session.connected:
            try:
                state = await session.caller.token_state()
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
            faults=faults,
        )

    async def stop(self) -> None:
        """Stop polling, then close the session (feed, caller, log, an owned sandbox)."""
        if self._health_timer is not None:
            self._health_timer.stop()
        session = self.app.session
        if session is not None:
            await session.close()


def _faults_on(response: Any) -> bool:
    """``"faults": true`` in the reference gateway's /healthz; any other gateway says nothing."""
    try:
        body = response.json()
    except ValueError:
        return False
    return isinstance(body, dict) and body.get("faults") is True


def _one_line(exc: BaseException | str) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:200]
