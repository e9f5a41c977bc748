"""The seeds' tested flow through the generated Python client, against a real server."""

from __future__ import annotations

from http import HTTPStatus

from dream_client.api.customers import create_customer, get_customer, list_customers, update_customer
from dream_client.api.tiers import list_tiers
from dream_client.api.usage import get_usage, track_usage
from dream_client.models import (
    CreateCustomerRequest,
    CustomerResponse,
    ErrorBody,
    ErrorCode,
    TrackRequest,
    TrackResponse,
    UpdateCustomerRequest,
    UsageResponse,
)
from dream_client.types import UNSET


def test_seed_flow(new_tenant, client_for):
    dream = client_for(new_tenant())

    created = create_customer.sync_detailed(
        client=dream,
        body=CreateCustomerRequest(
            email="sharon@example.com",
            first_name="Sharon",
            last_name="Sheffield",
            password="UniquePass123xyz",
            plan="free",
        ),
    )
    assert created.status_code == HTTPStatus.CREATED, created.content
    assert isinstance(created.parsed, CustomerResponse)
    customer = created.parsed.customer
    assert customer.id.startswith("usr_")
    assert customer.plan == "free"
    assert customer.has_password is True

    usage = get_usage.sync(client=dream, x_user_id=customer.id, x_user_plan="free")
    assert isinstance(usage, UsageResponse)
    assert (usage.usage_count, usage.limit, usage.remaining, usage.plan) == (0, 2, 2, "free")

    for expected in (1, 2):
        tracked = track_usage.sync(client=dream, x_user_id=customer.id, x_user_plan="free")
        assert isinstance(tracked, TrackResponse)
        assert tracked.success is True
        assert (tracked.plan, tracked.usage.count, tracked.usage.limit) == ("free", expected, 2)
        assert tracked.usage.remaining == 2 - expected

    refused = track_usage.sync_detailed(client=dream, x_user_id=customer.id)
    assert refused.status_code == HTTPStatus.TOO_MANY_REQUESTS
    error = refused.parsed
    assert isinstance(error, ErrorBody)
    assert error.code == ErrorCode.USAGE_LIMIT_REACHED
    assert error.code == "usage_limit_reached"
    assert error.error == "Tier limit reached"
    assert error.message == "Please upgrade"
    assert (error.plan, error.limit, error.used) == ("free", 2, 2)
    assert error.retry_after > 0
    assert int(refused.headers["retry-after"]) == error.retry_after
    assert error.request_id.startswith("req_")
    after_refusal = get_usage.sync(client=dream, x_user_id=customer.id)
    assert isinstance(after_refusal, UsageResponse)
    assert after_refusal.usage_count == 2, "a refused call counts nothing"

    upgraded = update_customer.sync(client=dream, id=customer.id, body=UpdateCustomerRequest(plan="pro"))
    assert isinstance(upgraded, CustomerResponse)
    assert upgraded.customer.plan == "pro"
    tracked = track_usage.sync(client=dream, x_user_id=customer.id)
    assert isinstance(tracked, TrackResponse)
    assert (tracked.plan, tracked.usage.count, tracked.usage.limit, tracked.usage.remaining) == ("pro", 3, 10, 7)

    other = client_for(new_tenant())
    hidden = get_customer.sync_detailed(client=other, id=customer.id)
    assert hidden.status_code == HTTPStatus.NOT_FOUND
    assert isinstance(hidden.parsed, ErrorBody)
    assert hidden.parsed.code == ErrorCode.NOT_FOUND
    listed = list_customers.sync(client=other)
    assert customer.id not in [c.id for c in listed.data]
    mine = get_customer.sync(client=dream, id=customer.id)
    assert isinstance(mine, CustomerResponse)
    assert mine.customer.id == customer.id


def test_amount_unlimited_fields_and_validation(new_tenant, client_for):
    dream = client_for(new_tenant())

    tiers = list_tiers.sync(client=dream)
    assert [(t.name, t.limit, t.unit_amount) for t in tiers.tiers] == [("free", 2, 0), ("pro", 10, 2900)]

    tracked = track_usage.sync(client=dream, x_user_id="py-user", x_user_plan="pro", body=TrackRequest(amount=4))
    assert isinstance(tracked, TrackResponse)
    assert (tracked.plan, tracked.usage.count, tracked.usage.remaining) == ("pro", 4, 6)

    bad = create_customer.sync_detailed(client=dream, body=CreateCustomerRequest(plan="gold"))
    assert bad.status_code == HTTPStatus.BAD_REQUEST
    assert isinstance(bad.parsed, ErrorBody)
    assert bad.parsed.code == ErrorCode.INVALID_REQUEST
    assert bad.parsed.field == "/plan"

    cleared = create_customer.sync(client=dream, body=CreateCustomerRequest(external_id="py-ext", email="a@b.co"))
    assert isinstance(cleared, CustomerResponse)
    changed = update_customer.sync(client=dream, id="py-ext", body=UpdateCustomerRequest(email=None))
    assert isinstance(changed, CustomerResponse)
    assert changed.customer.email is UNSET, "null cleared the email"
