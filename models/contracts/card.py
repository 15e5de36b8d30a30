"""Card numbers: the Luhn check, the digits of a typed number, and the keyed fingerprint.

Downstream needs to tell cards apart (velocity per card, a card shared by many users)
without being able to recover the number, so a record carries the last four digits plus
an HMAC-SHA256 of the digits under a secret only the gateway holds. A plain hash would
not do: 16-digit card numbers with a known prefix are few enough to enumerate.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from typing import Any, Final

CARD_MAX_LENGTH: Final = 40
CARD_MIN_DIGITS: Final = 12
CARD_MAX_DIGITS: Final = 19
_CARD_RE: Final = re.compile(r"[0-9 -]+")
_DOUBLED: Final = (0, 2, 4, 6, 8, 1, 3, 5, 7, 9)  # digit * 2, its digits summed


class CardNumberError(ValueError):
    """A card number that cannot be one; `kind` is stable, the message never repeats it."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


def luhn_check_digit(partial: str) -> int:
    """The digit that makes `partial + digit` pass the Luhn check (`partial`: digits only)."""
    reverse = partial[::-1]
    total = sum(_DOUBLED[int(char)] for char in reverse[0::2]) + sum(map(int, reverse[1::2]))
    return (10 - total % 10) % 10


def luhn_valid(digits: str) -> bool:
    """The Luhn mod-10 check every payment card number satisfies (`digits`: digits only)."""
    plain = sum(map(int, digits[-1::-2]))
    doubled = sum(_DOUBLED[int(char)] for char in digits[-2::-2])
    return (plain + doubled) % 10 == 0


def card_digits(value: Any) -> str:
    """The digits of a card number typed with optional spaces or dashes, Luhn-checked."""
    if not isinstance(value, str) or len(value) > CARD_MAX_LENGTH or not _CARD_RE.fullmatch(value):
        raise CardNumberError(
            "card_format",
            f"must be {CARD_MIN_DIGITS} to {CARD_MAX_DIGITS} digits, optionally grouped with "
            "spaces or dashes, e.g. '4111 1111 1111 1111'",
        )
    digits = value.replace(" ", "").replace("-", "")
    if not CARD_MIN_DIGITS <= len(digits) <= CARD_MAX_DIGITS:
        raise CardNumberError(
            "card_length",
            f"has {len(digits)} digits: a card number has {CARD_MIN_DIGITS} to "
            f"{CARD_MAX_DIGITS} digits",
        )
    if not luhn_valid(digits):
        raise CardNumberError(
            "card_checksum",
            "fails the Luhn checksum: a digit is probably mistyped; check the number on the card",
        )
    return digits


@dataclass(frozen=True, slots=True)
class MaskedCard:
    """What may leave the gateway of a card: `card_last4` and `card_fingerprint`."""

    last4: str
    fingerprint: str


class CardMasker:
    """Reduces card digits to a `MaskedCard` under one secret key (HMAC-SHA256)."""

    __slots__ = ("_keyed",)

    def __init__(self, secret: str | bytes) -> None:
        if not secret:
            raise ValueError(
                "the card secret is empty: set FRAUDCTL_GATEWAY__CARD_SECRET to a long random "
                "string"
            )
        key = secret.encode() if isinstance(secret, str) else secret
        self._keyed = hmac.new(key, digestmod=hashlib.sha256)

    def fingerprint(self, digits: str) -> str:
        keyed = self._keyed.copy()
        keyed.update(digits.encode("ascii"))
        return keyed.hexdigest()

    def mask(self, digits: str) -> MaskedCard:
        return MaskedCard(last4=digits[-4:], fingerprint=self.fingerprint(digits))

    def __repr__(self) -> str:
        return "CardMasker(secret=***)"
