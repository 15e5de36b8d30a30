"""Topic `transaction-labels`: what a transaction turned out to be, key = user_id (else the
transaction id), JSON value.

Posters (the console, `fraudctl label`, the simulator, the backtest) send labels through
the gateway's `POST /labels`; the job reads them back with `Label.from_json`. A label
carries the user, merchant and card when its poster knows them, so the job can credit the
merchant and card without keeping an index of transactions; without them it is still
valid (the job counts it as unresolved). Validation is strict (unknown fields refused) and
collects every problem: `InvalidLabel.problems` names each field, `InvalidLabel.field` the
first. Messages never repeat the submitted value.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, cast, get_args

import orjson

from models.contracts.timestamps import TimestampError, epoch_ms, parse_timestamp

LabelValue = Literal["fraud", "legit"]
LabelSource = Literal["analyst", "chargeback", "simulator"]
LABEL_VALUES: Final[tuple[str, ...]] = get_args(LabelValue)
LABEL_SOURCES: Final[tuple[str, ...]] = get_args(LabelSource)

MAX_ID_LENGTH: Final = 128
# 2000-01-01 .. 2100-01-01 in epoch ms: anything outside is a unit mistake (seconds, µs).
EARLIEST_MS: Final = 946_684_800_000
LATEST_MS: Final = 4_102_444_800_000
FIELDS: Final = (
    "transaction_id",
    "label",
    "source",
    "labelled_at",
    "user_id",
    "merchant_id",
    "card_fingerprint",
)
OPTIONAL_IDS: Final = ("user_id", "merchant_id", "card_fingerprint")
_ID_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:@-]*")
_ID_RULE: Final = (
    f"1 to {MAX_ID_LENGTH} characters: letters, digits and _ - . : @, starting with a letter "
    "or digit"
)


class InvalidLabel(ValueError):
    """A label that cannot be used; `problems` lists (field, message) for every bad field."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        self.field = problems[0][0]
        super().__init__("; ".join(f"{field} {message}" for field, message in problems))


@dataclass(frozen=True, slots=True)
class Label:
    """One verdict about one transaction."""

    transaction_id: str
    label: LabelValue
    source: LabelSource
    labelled_at: int  # epoch ms
    user_id: str | None = None
    merchant_id: str | None = None
    card_fingerprint: str | None = None

    def __post_init__(self) -> None:
        problems = _problems(self.to_record(), wire=True)
        if problems:
            raise InvalidLabel(problems)

    @property
    def is_fraud(self) -> bool:
        return self.label == "fraud"

    @property
    def resolved(self) -> bool:
        """True when the label names the user and merchant it is about."""
        return self.user_id is not None and self.merchant_id is not None

    @property
    def key(self) -> bytes:
        """The Kafka key: the user (the job's key) when known, else the transaction."""
        return (self.user_id or self.transaction_id).encode()

    def to_record(self) -> dict[str, Any]:
        """The wire record; optional fields that are unknown are left out."""
        record: dict[str, Any] = {
            "transaction_id": self.transaction_id,
            "label": self.label,
            "source": self.source,
            "labelled_at": self.labelled_at,
        }
        for name in OPTIONAL_IDS:
            value = getattr(self, name)
            if value is not None:
                record[name] = value
        return record

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_record())

    @classmethod
    def from_record(cls, record: Any, *, wire: bool = True) -> Label:
        """Validate a decoded record.

        `wire=True` (Kafka): `labelled_at` must be epoch ms. `wire=False` (HTTP): it may
        also be an ISO-8601 string with a zone.
        """
        problems = _problems(record, wire=wire)
        if problems:
            raise InvalidLabel(problems)
        labelled_at = record["labelled_at"]
        if isinstance(labelled_at, str):
            labelled_at = epoch_ms(parse_timestamp(labelled_at))
        return cls(
            transaction_id=record["transaction_id"],
            label=cast(LabelValue, record["label"]),
            source=cast(LabelSource, record["source"]),
            labelled_at=labelled_at,
            user_id=record.get("user_id"),
            merchant_id=record.get("merchant_id"),
            card_fingerprint=record.get("card_fingerprint"),
        )

    @classmethod
    def from_json(cls, data: bytes | str) -> Label:
        """Decode a Kafka value; any problem is an `InvalidLabel` (field `body` if not JSON)."""
        try:
            record = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise InvalidLabel([("body", "is not valid JSON")]) from None
        return cls.from_record(record, wire=True)


def _problems(record: Any, *, wire: bool) -> list[tuple[str, str]]:
    if not isinstance(record, Mapping):
        return [("body", "must be a JSON object with transaction_id, label, source, labelled_at")]
    problems: list[tuple[str, str]] = [
        (str(name), f"is not a label field: the fields are {', '.join(FIELDS)}")
        for name in record
        if name not in FIELDS
    ]
    _check_id(record, "transaction_id", problems, required=True)
    _check_choice(record, "label", LABEL_VALUES, problems)
    _check_choice(record, "source", LABEL_SOURCES, problems)
    _check_time(record.get("labelled_at"), problems, wire=wire)
    for name in OPTIONAL_IDS:
        _check_id(record, name, problems, required=False)
    return problems


def _check_id(
    record: Mapping[str, Any], name: str, problems: list[tuple[str, str]], *, required: bool
) -> None:
    value = record.get(name)
    if value is None:
        if required:
            problems.append((name, f"is missing: give {_ID_RULE}"))
        return
    if not isinstance(value, str):
        problems.append((name, f"must be a string of {_ID_RULE}"))
    elif not value:
        hint = "" if required else "; leave the field out when it is not known"
        problems.append((name, f"must not be empty{hint}"))
    elif len(value) > MAX_ID_LENGTH:
        problems.append((name, f"is {len(value)} characters long: use {_ID_RULE}"))
    elif not _ID_RE.fullmatch(value):
        problems.append((name, f"contains characters that are not allowed: use {_ID_RULE}"))


def _check_choice(
    record: Mapping[str, Any], name: str, choices: tuple[str, ...], problems: list[tuple[str, str]]
) -> None:
    value = record.get(name)
    allowed = " or ".join(repr(choice) for choice in choices)
    if value is None:
        problems.append((name, f"is missing: use {allowed}"))
    elif value not in choices:
        problems.append((name, f"is not a known {name}: use {allowed}"))


def _check_time(value: Any, problems: list[tuple[str, str]], *, wire: bool) -> None:
    forms = "epoch milliseconds" if wire else "epoch milliseconds or ISO-8601 with a time zone"
    if value is None:
        problems.append(("labelled_at", f"is missing: give {forms}"))
        return
    if isinstance(value, str) and not wire:
        try:
            value = epoch_ms(parse_timestamp(value))
        except TimestampError as exc:
            problems.append(("labelled_at", exc.message))
            return
    if isinstance(value, bool) or not isinstance(value, int):
        problems.append(("labelled_at", f"must be {forms} (an integer)"))
    elif not EARLIEST_MS <= value < LATEST_MS:
        problems.append(
            ("labelled_at", "is outside 2000..2100 as epoch milliseconds (seconds given?)")
        )
