"""Back-pressure for sync: a bounded number of pushes and pulls at work per server process.

When every tablet of a township comes back into signal at once (17:00–19:00), more requests
arrive than the cores can serve. Without a bound each of them takes a database connection and a
thread, they all slow down together, and the slowest run into the tablet's timeout or the pool's
(a 500): the tablet then retries on its own schedule, adding load exactly when there is least.

``SyncAdmission`` (pure ASGI, just inside ``BodyLimitMiddleware``) lets ``concurrency`` pushes
and ``pull_concurrency`` pulls work at a time per process; up to ``queue`` more of each wait up
to ``wait_seconds`` for a slot, which goes to the request first sent earliest (a retry says when:
``X-Ruhu-Retry``, ``sync_protocol.retry``), then in arrival order.
Beyond that, or after waiting, the answer is 503 ``sync.busy`` with a ``Retry-After`` header (and
``retry_after`` in the body: about when the waiters sent before it will have been served) before
anything is parsed, authenticated or written; the tablet waits that long (plus jitter, capped)
and sends the same request again (``kivy_client/sync.py``). Nothing is lost: a push answered 503
wrote nothing, and its retry carries the same change ids.

A push's body is read before it queues for a slot, so a tablet on a slow link holds no slot
while its bytes trickle in (the body is already capped by ``BodyLimitMiddleware``). A request
without an ``Authorization`` header passes straight through, unread: the app refuses it (401)
before reading its body, and an anonymous client must not make the server read megabytes.

A pool that still runs dry (``sqlalchemy.exc.TimeoutError``), or a database that refuses a
connection because it has too many (SQLSTATE 53300) or is starting up (57P03), is answered the
same way (``server.api.errors``): 503 ``sync.busy`` with ``Retry-After``, never a 500.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from dataclasses import dataclass
from typing import Any

from server.limits import header, send_error
from server.security import decode_token
from sync_protocol.errors import ErrorCode, RuhuError
from sync_protocol.retry import RETRY_HEADER, parse_retry

SYNC_PREFIX = "/api/v1/sync/"
MAX_ESTIMATED_RETRY_AFTER = 10
RETRY_HEADER_BYTES = RETRY_HEADER.lower().encode()


@dataclass(frozen=True)
class AdmissionLimits:
    concurrency: int = 2  # pushes at work at once
    queue: int = 32
    wait_seconds: float = 1.5
    retry_after: int = 2
    pull_concurrency: int = 1  # pulls at work at once (their own slots: see SyncAdmission)


def retry_after_seconds(base: int, waiting: int, concurrency: int,
                        service_s: float | None = None) -> int:
    """When to come back: about when the ``waiting`` requests that will go first will have been
    served (``service_s``, the recent time a request holds a slot, times those per slot),
    never sooner than ``base``; without a measured service time, ``base`` per round of slots.

    At most 10 s (unless ``base`` says more): the queue empties within the wait (its requests
    are served or told to come back), so a long estimate only leaves the cores idle at the end of
    a storm, and the tablet adds up to 50 % jitter. The estimate without a measured time was
    capped at 30 s until session 8: the first 503s of a storm, answered before any push had
    finished, said 30 s, and those tablets' pushes took 45 s (docs/performance.md)."""
    cap = max(base, MAX_ESTIMATED_RETRY_AFTER)
    if service_s is None:
        estimate = base * (1 + waiting // max(1, concurrency))
    else:
        estimate = max(base, math.ceil(service_s * (waiting + 1) / max(1, concurrency)))
    return max(1, min(cap, estimate))


async def send_busy(scope: dict[str, Any], send: Any, retry_after: int) -> None:
    """503 ``sync.busy`` with ``Retry-After`` (header and body)."""
    await send_error(scope, send, ErrorCode.sync_busy, 503,
                     [(b"retry-after", str(retry_after).encode())], retry_after=retry_after)


@dataclass(eq=False)
class _Waiter:
    first_sent: float  # when the request was first sent, as far as we know (monotonic clock)
    order: int  # arrival order, among equals
    admitted: asyncio.Future[bool]  # True: it holds a slot; False: it is turned away
    ahead: int = 0  # turned away: the waiters then left that were sent before it

    @property
    def rank(self) -> tuple[float, int]:
        return (self.first_sent, self.order)  # the smallest is served first


class _Slots:
    """One class of requests (pushes or pulls): ``concurrency`` slots and a bounded queue, served
    oldest first — by when a request was first sent (``X-Ruhu-Retry``), then in arrival order.
    A freed slot passes straight to the oldest waiter; a full queue lets an older newcomer take
    the place of its youngest waiter (who is turned away: it has waited least)."""

    def __init__(self, concurrency: int) -> None:
        self.concurrency = concurrency
        self.busy = 0  # slots at work
        self.waiters: list[_Waiter] = []
        self.service_s: float | None = None  # moving average of the time a request holds a slot
        self._arrivals = itertools.count()

    @property
    def waiting(self) -> int:
        return len(self.waiters)

    def ahead_of(self, first_sent: float) -> int:
        """Waiters that were first sent before ``first_sent``: they go first."""
        return sum(1 for w in self.waiters if w.first_sent < first_sent)

    def take(self) -> bool:
        """A free slot now (nobody is waiting for it)?"""
        if self.busy < self.concurrency and not self.waiters:
            self.busy += 1
            return True
        return False

    def enqueue(self, first_sent: float, queue: int) -> _Waiter | None:
        """Wait in the queue; None: it is full of requests at least as old."""
        waiter = _Waiter(first_sent, next(self._arrivals),
                         asyncio.get_running_loop().create_future())
        if len(self.waiters) >= queue:
            youngest = max(self.waiters, key=lambda w: w.rank, default=None)
            if youngest is None or youngest.rank < waiter.rank:
                return None
            self._leave(youngest, admitted=False)
        self.waiters.append(waiter)
        return waiter

    def release(self) -> None:
        """A slot is free: the oldest waiter gets it, else it is free."""
        if self.waiters:
            self._leave(min(self.waiters, key=lambda w: w.rank), admitted=True)
        else:
            self.busy -= 1

    def expire(self, waiter: _Waiter) -> None:
        """The waiter's time is up (no-op once it was admitted or turned away)."""
        if not waiter.admitted.done():
            self._leave(waiter, admitted=False)

    def _leave(self, waiter: _Waiter, admitted: bool) -> None:
        self.waiters.remove(waiter)
        if not admitted:
            waiter.ahead = self.ahead_of(waiter.first_sent)
        waiter.admitted.set_result(admitted)

    def served(self, seconds: float) -> None:
        self.service_s = seconds if self.service_s is None else (
            0.8 * self.service_s + 0.2 * seconds)


class SyncAdmission:
    """At most ``concurrency`` pushes and ``pull_concurrency`` pulls at work in this process,
    each with a bounded queue served oldest first (``_Slots``).

    Pushes and pulls have separate slots: in a storm every tablet pulls everything its village's
    other tablets pushed, which is several times the work of the pushes, and pushes queued behind
    pulls would wait for all of it. With their own slots, the changes are merged (and answered)
    while the pulls share what is left. (Refusing every pull while pushes queue was tried and
    dropped: no gain measurable on a shared machine, and a steady stream of pushes would starve
    the pulls — tests/sync/test_concurrency.py's puller among them.)

    Oldest first, not first come: a tablet turned away retries the same request with
    ``X-Ruhu-Retry`` (``sync_protocol.retry``), which says how long ago it was first sent. Without
    it a retry queued behind newer requests like a first attempt (in a session-7 storm one tablet
    was turned away on each retry). A request's place is ``now - waited`` (``waited`` capped at
    10 min), so nobody is overtaken forever: whoever overtakes it was first sent before it. A
    request turned away is told to come back when the waiters sent before it will have been
    served, so the oldest come back soonest (docs/performance.md, session 8)."""

    def __init__(self, app: Any, limits: AdmissionLimits | None = None,
                 token_secret: str | None = None) -> None:
        self.app = app
        self.limits = limits or AdmissionLimits()
        self.token_secret = token_secret
        self.push = _Slots(self.limits.concurrency)
        self.pull = _Slots(self.limits.pull_concurrency)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not str(scope.get("path", "")).startswith(SYNC_PREFIX):
            await self.app(scope, receive, send)
            return
        if not _has_credentials(scope, self.token_secret):  # refused with 401 unread: no slot
            await self.app(scope, receive, send)
            return
        slots = self.pull
        if scope.get("method") == "POST":
            slots = self.push
            receive = await _buffered(receive)
            if receive is None:  # the client went away (or the body was refused: 413 sent)
                return
        if not slots.take():
            retry = parse_retry(header(scope, RETRY_HEADER_BYTES))
            first_sent = time.monotonic() - (retry.waited_s if retry else 0)
            ahead = await self._wait(slots, first_sent)
            if ahead is not None:
                await send_busy(scope, send, self._retry_after(slots, ahead))
                return
        started = time.monotonic()
        try:
            await self.app(scope, receive, send)
        finally:
            slots.release()
            slots.served(time.monotonic() - started)

    async def _wait(self, slots: _Slots, first_sent: float) -> int | None:
        """Queue for a slot for at most ``wait_seconds``. None once one is held; turned away:
        how many waiters were sent before it (they will still go first)."""
        limits = self.limits
        if limits.wait_seconds <= 0:
            return slots.ahead_of(first_sent)
        waiter = slots.enqueue(first_sent, limits.queue)
        if waiter is None:
            return slots.ahead_of(first_sent)
        timer = asyncio.get_running_loop().call_later(limits.wait_seconds, slots.expire, waiter)
        try:
            return None if await waiter.admitted else waiter.ahead
        except BaseException:  # the client went away (the task is cancelled) while it waited
            if waiter.admitted.done() and not waiter.admitted.cancelled():
                if waiter.admitted.result():
                    slots.release()  # it was handed a slot at that very moment: pass it on
            elif waiter in slots.waiters:
                slots.waiters.remove(waiter)
            raise
        finally:
            timer.cancel()

    def _retry_after(self, slots: _Slots, ahead: int) -> int:
        """About when the ``ahead`` waiters that will still go first (those sent before this
        request) will have been served: an old retry comes back soon, a new request later."""
        return retry_after_seconds(self.limits.retry_after, ahead, slots.concurrency,
                                   slots.service_s)


def _has_credentials(scope: dict[str, Any], secret: str | None) -> bool:
    """Whether the request carries a token that could be valid; without one the app refuses it
    unread, so buffering its body here would let anyone make the server read up to the body
    limit. With ``secret`` the token's signature and expiry are checked too (no database: about
    20 µs), so a forged or expired token neither takes a place in a queue nor claims an old
    ``X-Ruhu-Retry``; whether its user and device are still active is the app's business."""
    value = header(scope, b"authorization")
    if value is None:
        return False
    if secret is None:
        return True
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return False
    try:
        decode_token(token.strip(), secret)
    except RuhuError:
        return False
    return True


async def _buffered(receive: Any) -> Any:
    """Read the whole request body now; a ``receive`` that replays it (None: disconnected)."""
    messages: list[dict[str, Any]] = []
    while True:
        msg = await receive()
        if msg["type"] != "http.request":
            return None
        messages.append(msg)
        if not msg.get("more_body", False):
            break

    async def replay() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        result: dict[str, Any] = await receive()
        return result

    return replay
