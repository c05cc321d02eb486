"""Which failures of the task journal a worker lane waits out (quarry_runtime.busfaults decides
what an outage is), and which it does not."""

from __future__ import annotations

import pytest
from nats.errors import ConnectionClosedError, MaxPayloadError, NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from nats.js.errors import APIError, BadRequestError, InvalidKeyError, ServiceUnavailableError

from quarry_runtime.busfaults import nats_outage_is_unavailable
from quarry_runtime.errors import Unavailable


@pytest.mark.parametrize(
    "error",
    [
        ConnectionClosedError(),  # the server went away
        NatsTimeout(),  # no answer in time (a server restarting, a stream without a leader)
        NoRespondersError(),  # JetStream not (yet) running
        ServiceUnavailableError(code=503, description="maximum bytes exceeded"),  # a full bucket
        APIError(code=400, err_code=10047, description="insufficient storage resources available"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_a_failure_of_nats_itself_is_unavailable(error: Exception) -> None:
    with pytest.raises(Unavailable, match="task journal") as raised, nats_outage_is_unavailable("task journal"):
        raise error
    assert raised.value.__cause__ is error


@pytest.mark.parametrize(
    "error",
    [
        MaxPayloadError(),  # the result is too large for any message
        InvalidKeyError(),  # the task id is no valid key
        BadRequestError(code=400, description="bad request"),
        ValueError("corrupt journal entry"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_a_failure_the_call_causes_is_not_waited_out(error: Exception) -> None:
    with pytest.raises(type(error)) as raised, nats_outage_is_unavailable("task journal"):
        raise error
    assert raised.value is error


def test_unavailable_from_a_lower_layer_passes_as_it_is() -> None:
    own = Unavailable("the key-value layer says so")
    with pytest.raises(Unavailable) as raised, nats_outage_is_unavailable("task journal"):
        raise own
    assert raised.value is own
