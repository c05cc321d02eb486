"""A JetStream pull consumer's fetch: one pull request, its answers read straight off the queue.

nats-py's `PullSubscription.fetch` waits for each message with `Subscription.next_msg`, which
makes a uuid4, a task and an `asyncio.wait_for` (with a task of its own) per message, and asks
twice when the first request finds nothing. The gateway's run.* consumer reads back every event
its requests publish, so that was paid once per request. Here a fetch costs one request and one
timer, whatever it brings, and keeps the protocol nats-py speaks:

* messages an earlier request delivered after its fetch had ended are taken first, and the fetch
  returns them without asking (at most `batch`, the rest stay for the next fetch); a status
  message left in the queue answered an earlier request and is dropped;
* otherwise one request for `batch` messages, `no_wait` with `expires`: the server answers as soon
  as it has messages, sends those it has (a 404 follows when they are fewer than asked for) or,
  with none within `expires`, a 408. That status, or the `batch`-th message, ends the fetch;
* the fetch waits a moment longer than `expires`, so that the server's own status ends it rather
  than being left in the queue to end the next one; with no answer by then (a lost connection)
  it ends with what it has;
* a 409 (leadership change, too many waiting requests) ends the fetch too; with nothing received
  it is waited out to the deadline, as nats-py waits it out, not asked again at once; a 503 (no
  JetStream, no such consumer) raises ServiceUnavailableError, any other status nats-py's APIError;
* a closed connection raises ConnectionClosedError: before a request, or at once during one
  (nats-py's close cancels what waits on its subscriptions, which a fetch is registered among,
  as `next_msg` registers its own waits).
"""

from __future__ import annotations

import asyncio

from nats.aio.msg import Msg
from nats.errors import ConnectionClosedError
from nats.js import JetStreamContext
from nats.js.errors import APIError

STATUS = "Status"
HEARTBEAT = "100"
NO_MESSAGES = "404"
REQUEST_TIMEOUT = "408"
CONFLICT = "409"
ANSWER_GRACE_S = 0.25  # how much longer than `expires` the fetch waits for the server's status
WAIT_KEY = "quarry-pull-fetch"  # the fetch's entry among the subscription's waits (one fetch at a time)


class PullFetch:
    """Fetches from one pull subscription; only one fetch at a time (its consumer's loop)."""

    def __init__(self, pull: JetStreamContext.PullSubscription) -> None:
        # nats-py's own parts of the subscription, as its fetch uses them: the connection, the
        # subject that takes pull requests, the inbox they are answered on and its queue.
        self._connection = pull._nc
        self._sub = pull._sub
        self._next_subject = pull._nms
        self._inbox = pull._deliver

    async def fetch(self, batch: int, timeout_s: float) -> list[Msg]:
        """Up to `batch` messages, the first within `timeout_s`; none when none came."""
        if self._connection.is_closed:
            raise ConnectionClosedError
        msgs = self._leftovers(batch)
        if msgs:
            return msgs
        request = f'{{"batch":{batch},"expires":{int(timeout_s * 1e9)},"no_wait":true}}'
        await self._connection.publish(self._next_subject, request.encode(), self._inbox)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s + ANSWER_GRACE_S
        fetching = asyncio.current_task()
        waits = self._sub._pending_next_msgs_calls  # cancelled by nats-py's close
        if waits is not None and fetching is not None:
            waits[WAIT_KEY] = fetching
        try:
            async with asyncio.timeout_at(deadline):
                while len(msgs) < batch:
                    msg = await self._next()
                    status = status_of(msg)
                    if status is None:
                        msgs.append(msg)
                    elif status in (NO_MESSAGES, REQUEST_TIMEOUT):
                        break
                    elif status == CONFLICT:
                        if not msgs:
                            await asyncio.sleep(deadline - loop.time())
                        break
                    elif status != HEARTBEAT:
                        APIError.from_msg(msg)  # raises: ServiceUnavailableError for a 503
        except TimeoutError:
            pass  # no (further) answer by the deadline
        except asyncio.CancelledError:
            if not self._connection.is_closed or fetching is None:
                raise
            fetching.uncancel()  # the close's cancel, not the consumer's: it ends as a closed connection
            raise ConnectionClosedError from None
        finally:
            if waits is not None:
                waits.pop(WAIT_KEY, None)
        return msgs

    def _leftovers(self, batch: int) -> list[Msg]:
        queue = self._sub._pending_queue
        msgs: list[Msg] = []
        while len(msgs) < batch and not queue.empty():
            msg = self._taken(queue.get_nowait())
            if status_of(msg) is None:
                msgs.append(msg)
        return msgs

    async def _next(self) -> Msg:
        return self._taken(await self._sub._pending_queue.get())

    def _taken(self, msg: Msg) -> Msg:
        # The bookkeeping `next_msg` does: the bytes still pending (the slow-consumer limit) and
        # the queue's count of unfinished items (which a drain joins on).
        self._sub._pending_size -= len(msg.data)
        self._sub._pending_queue.task_done()
        return msg


def status_of(msg: Msg) -> str | None:
    """The status code of a server's status message (a pull request's end, a heartbeat); None for a message."""
    return msg.headers.get(STATUS) if msg.headers else None
