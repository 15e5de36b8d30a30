"""Request bodies shared by the gateway tests: the seed README's two curls, verbatim."""

from __future__ import annotations

from typing import Any, Final

SEED_NORMAL: Final[dict[str, Any]] = {
    "transaction_id": "txn_normal_001",
    "user_id": "user-test-123",
    "card_number": "4242-4242-4242-4242",
    "amount": 50.00,
    "timestamp": "2025-07-15T10:00:00Z",
    "merchant_id": "merchant_a",
    "location": "New York",
}

SEED_FRAUD: Final[dict[str, Any]] = {
    "transaction_id": "txn_fraud_002",
    "user_id": "user-test-123",
    "card_number": "4242-4242-4242-4242",
    "amount": 5000.00,
    "timestamp": "2025-07-15T10:01:00Z",
    "merchant_id": "merchant_b",
    "location": "Online",
}

# The exact bytes the seed README's curl sends (-d '...' with its indentation).
SEED_NORMAL_CURL_BODY: Final = b"""{
    "transaction_id": "txn_normal_001",
    "user_id": "user-test-123",
    "card_number": "4242-4242-4242-4242",
    "amount": 50.00,
    "timestamp": "2025-07-15T10:00:00Z",
    "merchant_id": "merchant_a",
    "location": "New York"
}"""

SEED_FRAUD_CURL_BODY: Final = b"""{
    "transaction_id": "txn_fraud_002",
    "user_id": "user-test-123",
    "card_number": "4242-4242-4242-4242",
    "amount": 5000.00,
    "timestamp": "2025-07-15T10:01:00Z",
    "merchant_id": "merchant_b",
    "location": "Online"
}"""

CARD_DIGITS: Final = "4242424242424242"


def with_changes(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A copy of base with fields replaced; a value of `...` removes the field."""
    body = dict(base)
    for key, value in changes.items():
        if value is ...:
            body.pop(key, None)
        else:
            body[key] = value
    return body
