"""Card masking: the full number stops here.

Downstream needs to tell cards apart (velocity per card, a card shared by many users)
without being able to recover the number, so Kafka gets the last four digits plus an
HMAC-SHA256 of the digits under a secret only the gateway holds. A plain hash would not
do: 16-digit card numbers with a known prefix are few enough to enumerate.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MaskedCard:
    last4: str
    fingerprint: str


class CardMasker:
    """Reduces a card number (digits only) to what may leave the gateway."""

    __slots__ = ("_keyed",)

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError(
                "the card secret is empty: set FRAUDCTL_GATEWAY__CARD_SECRET to a long random "
                "string"
            )
        self._keyed = hmac.new(secret.encode(), digestmod=hashlib.sha256)

    def mask(self, digits: str) -> MaskedCard:
        keyed = self._keyed.copy()
        keyed.update(digits.encode("ascii"))
        return MaskedCard(last4=digits[-4:], fingerprint=keyed.hexdigest())

    def __repr__(self) -> str:
        return "CardMasker(secret=***)"
