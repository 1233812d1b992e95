"""Fairness between retries (server/backpressure.py, sync_protocol/retry.py): a freed slot goes to
the waiting request first sent earliest — a retry says when with ``X-Ruhu-Retry`` — then in
arrival order; a full queue lets an older request take the youngest waiter's place; nothing
starves; a hostile header never gives a 500 or more than a capped place.

``SyncAdmission`` runs here around a real inner ASGI app that holds its slot until the test lets
it go (an ``asyncio.Event`` per request), so the order is deterministic: no sleeps, no timing."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from server.backpressure import AdmissionLimits, SyncAdmission
from sync_protocol.retry import (
    MAX_COUNT,
    MAX_WAITED_S,
    RETRY_HEADER,
    Retry,
    format_retry,
    parse_retry,
)

PULL = "/api/v1/sync/pull"
PUSH = "/api/v1/sync/push"


class SlowApp:
    """An ASGI app that answers 200 once the test releases the request (by its name)."""

    def __init__(self) -> None:
        self.served: list[str] = []
        self.gates: dict[str, asyncio.Event] = {}

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        name = dict(scope["headers"])[b"x-name"].decode()
        self.served.append(name)
        await self.gates.setdefault(name, asyncio.Event()).wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": name.encode()})

    def finish(self, name: str) -> None:
        self.gates.setdefault(name, asyncio.Event()).set()


class Client:
    """Sends requests through ``SyncAdmission`` as tasks; remembers each one's answer."""

    def __init__(self, secret: str | None = None, **limits: Any) -> None:
        self.app = SlowApp()
        self.admission = SyncAdmission(self.app, AdmissionLimits(**{
            "concurrency": 1, "queue": 8, "wait_seconds": 60, "pull_concurrency": 1, **limits}),
            token_secret=secret)
        self.answers: dict[str, dict[str, Any]] = {}
        self.tasks: list[asyncio.Task[None]] = []

    async def send(self, name: str, retry: str | bytes | None = None, method: str = "GET",
                   token: str = "x") -> None:
        """Start a request and let it reach its slot or its place in the queue."""
        headers = [(b"authorization", f"Bearer {token}".encode()), (b"x-name", name.encode())]
        if retry is not None:
            headers.append((RETRY_HEADER.lower().encode(),
                            retry if isinstance(retry, bytes) else retry.encode()))
        scope = {"type": "http", "method": method, "path": PUSH if method == "POST" else PULL,
                 "headers": headers}
        answer: dict[str, Any] = {}
        self.answers[name] = answer

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"{}", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                answer["status"] = message["status"]
                answer["headers"] = dict(message["headers"])
            else:
                answer["body"] = message["body"]

        self.tasks.append(asyncio.create_task(self.admission(scope, receive, send)))
        await settle()

    async def finish(self, name: str) -> None:
        """The app answers ``name``; its slot passes on."""
        self.app.finish(name)
        await settle()
        assert self.answers[name]["status"] == 200

    async def close(self) -> None:
        for name in list(self.answers):
            self.app.finish(name)
        await asyncio.gather(*self.tasks)


async def settle() -> None:
    for _ in range(20):  # every task runs until it waits
        await asyncio.sleep(0)


def retry(count: int, waited: float) -> str:
    return format_retry(count, waited)


async def test_a_retry_gets_the_next_slot_ahead_of_newer_first_attempts() -> None:
    c = Client()
    await c.send("A")  # holds the slot
    await c.send("new-1")
    await c.send("new-2")
    await c.send("fifth-try", retry(4, 30))  # arrives last, first sent 30 s ago
    await c.send("second-try", retry(1, 5))
    await c.send("new-3")
    assert c.app.served == ["A"] and c.admission.pull.waiting == 5
    for name in ("A", "fifth-try", "second-try", "new-1", "new-2"):
        await c.finish(name)
    # the oldest first, then the first attempts in the order they came
    assert c.app.served == ["A", "fifth-try", "second-try", "new-1", "new-2", "new-3"]
    await c.close()
    assert all(a["status"] == 200 for a in c.answers.values())


async def test_pushes_and_pulls_keep_their_own_slots_and_queues() -> None:
    c = Client()
    await c.send("pull-A")
    await c.send("push-A", method="POST")  # a pull holds its slot; a push has its own
    await c.send("push-new", method="POST")
    await c.send("push-retry", retry(2, 12), method="POST")
    await c.send("pull-new")
    assert c.app.served == ["pull-A", "push-A"]
    assert c.admission.push.waiting == 2 and c.admission.pull.waiting == 1
    await c.finish("push-A")
    assert c.app.served[-1] == "push-retry"
    await c.finish("pull-A")
    assert c.app.served[-1] == "pull-new"
    await c.close()


async def test_a_full_queue_turns_away_its_youngest_for_an_older_request() -> None:
    c = Client(queue=2)
    await c.send("A")
    await c.send("new-1")
    await c.send("new-2")
    await c.send("new-3")  # the queue is full of requests as old: turned away at once
    assert c.answers["new-3"]["status"] == 503
    await c.send("retry", retry(3, 20))  # older than all of them: new-2 (youngest) leaves
    assert c.answers["new-2"]["status"] == 503
    body = json.loads(c.answers["new-2"]["body"])
    assert body["error"]["code"] == "sync.busy" and b"retry-after" in c.answers["new-2"]["headers"]
    for name in ("A", "retry", "new-1"):
        await c.finish(name)
    assert c.app.served == ["A", "retry", "new-1"]
    await c.close()


async def test_the_wait_is_still_bounded_and_nothing_is_served_twice() -> None:
    c = Client(wait_seconds=0.05)
    await c.send("A")
    await c.send("retry", retry(9, 100))
    await asyncio.sleep(0.2)  # nobody freed the slot: turned away after the wait
    assert c.answers["retry"]["status"] == 503
    assert c.admission.pull.waiting == 0
    await c.finish("A")
    await c.send("B")  # the slot is free again
    assert c.app.served == ["A", "B"]
    await c.close()
    assert c.admission.pull.busy == 0


async def test_an_old_retry_is_told_to_come_back_sooner_than_newer_requests() -> None:
    """``Retry-After`` counts only the waiters that will still go first (sent before it)."""
    c = Client(wait_seconds=0.05, retry_after=1)
    await c.send("A")
    for name in ("new-1", "new-2", "new-3"):
        await c.send(name)
    await c.send("old", retry(3, 30))
    await asyncio.sleep(0.3)  # nobody freed the slot: all are turned away after the wait
    after = {name: int(c.answers[name]["headers"][b"retry-after"])
             for name in ("new-1", "new-2", "new-3", "old")}
    # base 1 s per round of the one slot: "old" had nobody ahead, each new one had "old"
    assert after == {"new-1": 2, "new-2": 2, "new-3": 2, "old": 1}
    await c.close()


async def test_nothing_starves() -> None:
    """A request first sent at some moment is overtaken only by requests first sent before it:
    under a steady stream of newer requests and retries it is served in a bounded number of
    slots. Here a retry is answered busy once (queue full of older retries), comes back saying
    how long it has waited, and is served before every request sent after it."""
    c = Client(queue=3)
    await c.send("A")
    for n in range(3):
        await c.send(f"old-{n}", retry(2, 50 + n))  # older than "late"
    await c.send("late", retry(1, 10))  # the queue is full of older ones: turned away
    assert c.answers["late"]["status"] == 503
    served_before_late: list[str] = []
    await c.finish("A")
    # it comes back (same request, count 2) while newer first attempts keep arriving
    await c.send("late-again", retry(2, 40))
    for step in range(4):
        await c.send(f"newer-{step}")
        current = c.app.served[-1]
        if current == "late-again":
            break
        served_before_late.append(current)
        await c.finish(current)
    assert c.app.served[-1] == "late-again"
    # only the requests first sent before it went first; none of the newer ones
    assert all(name.startswith("old-") for name in served_before_late)
    await c.close()


async def test_a_client_that_goes_away_while_waiting_frees_its_place() -> None:
    c = Client()
    await c.send("A")
    await c.send("gone", retry(1, 30))
    await c.send("B")
    c.tasks[1].cancel()  # the connection closed while it waited
    await settle()
    assert c.admission.pull.waiting == 1
    await c.finish("A")
    assert c.app.served == ["A", "B"]
    c.tasks.pop(1)
    c.answers.pop("gone")
    await c.close()
    assert c.admission.pull.busy == 0


@pytest.mark.parametrize("value, parsed", [
    ("3; waited=17", Retry(3, 17)),
    (" 1 ;WAITED = 0 ", Retry(1, 0)),
    ("2", Retry(2, 0)),
    ("2; other=5", Retry(2, 0)),
    ("2; waited=abc", Retry(2, 0)),
    ("99999999999999999; waited=99999999999999999", Retry(MAX_COUNT, MAX_WAITED_S)),
    ("5; waited=" + "9" * 60, None),  # too long to be ours
    ("0; waited=30", None),  # zero turned away: a first attempt
    ("-1; waited=30", None),
    ("1e9; waited=30", None),
    ("३; waited=30", None),  # a Devanagari digit is a digit to str.isdigit, not to us
    ("", None),
    ("; waited=30", None),
    (b"\xff\xfe; waited=1", None),
    (None, None),
])
def test_the_header_is_parsed_or_ignored(value: str | bytes | None, parsed: Retry | None
                                         ) -> None:
    assert parse_retry(value) == parsed


def test_the_tablet_formats_within_the_caps() -> None:
    assert format_retry(3, 17.9) == "3; waited=17"
    assert format_retry(0, -4) == "1; waited=0"
    assert format_retry(10 ** 6, 10 ** 6) == f"{MAX_COUNT}; waited={MAX_WAITED_S}"
    assert parse_retry(format_retry(7, 42.2)) == Retry(7, 42)


async def test_hostile_headers_never_fail_and_get_no_more_than_the_cap() -> None:
    c = Client(queue=16)
    await c.send("A")
    await c.send("honest", retry(40, 10 ** 4))  # capped: its place is "10 min ago"
    hostile: list[str | bytes] = ["999999999999999999999; waited=999999999999999999999",
                                  "x" * 10_000, b"\x00\xff\x80", "1; waited=-5", "1;;;;=",
                                  "1; waited=600; waited=999999"]
    for n, value in enumerate(hostile):
        await c.send(f"hostile-{n}", value)
    await c.send("new")
    await c.finish("A")
    assert c.app.served[-1] == "honest"  # a forged header ranks at most level with it
    while c.app.served[-1] != "new":
        await c.finish(c.app.served[-1])
    # what parsed was capped, what did not was a first attempt (before "new", which came last)
    assert len(c.app.served) == 2 + len(hostile) + 1
    await c.close()
    assert all(a["status"] == 200 for a in c.answers.values())


def test_a_hostile_header_against_the_real_app_is_no_500(client, make_user, login) -> None:
    from tests.conftest import VILLAGE_A1

    make_user("cadre_hostile", "village_cadre", [VILLAGE_A1])
    headers = login("cadre_hostile", "tab-h")
    for value in ["x" * 8000, "1; waited=" + "9" * 40, "\x7f\x01", "-1", "1; waited=600"]:
        resp = client.get(PULL, headers={**headers, RETRY_HEADER: value})
        assert resp.status_code == 200, (value[:20], resp.text)


async def test_a_forged_token_takes_no_place_and_claims_no_age() -> None:
    """With the server's secret, only a token whose signature and expiry hold is queued (and may
    claim an old ``X-Ruhu-Retry``); a forged or expired one goes straight on to the app's 401."""
    import uuid

    from server.security import TokenClaims, create_token

    secret = "admission-test-secret"
    claims = TokenClaims(uuid.uuid4(), "tab-1", 1)
    good = create_token(claims, secret, 600)
    forged = create_token(claims, "not-the-secret", 600)
    expired = create_token(claims, secret, -10)
    c = Client(secret, queue=2)
    await c.send("A", token=good)  # holds the slot
    await c.send("honest", token=good)  # waits
    for name, token in [("forged", forged), ("expired", expired), ("junk", "junk")]:
        await c.send(name, retry(40, 10 ** 4), token=token)
    # not queued: the inner app saw them at once (where the real app answers 401)
    assert c.app.served == ["A", "forged", "expired", "junk"]
    for name in ("forged", "expired", "junk"):
        await c.finish(name)
    await c.finish("A")
    assert c.app.served[-1] == "honest"
    await c.close()
