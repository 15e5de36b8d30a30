"""Rule files (JSON or YAML: one rule or a list) and the data a rule is dry-run on.

Every problem names the file, the rule (by position and id) and the field, so the fix is
obvious; nothing is stored unless every rule of the file is valid.
"""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from models.contracts.card import CardMasker, CardNumberError, card_digits
from models.contracts.rule import InvalidRule, Rule
from models.contracts.transaction import InvalidTransaction, Transaction
from models.features import FEATURE_NAMES
from models.label_risk import LABEL_FEATURE_NAMES
from models.rules_engine import unknown_features

KNOWN_FEATURES = (*FEATURE_NAMES, *LABEL_FEATURE_NAMES)
# A dry run has no gateway secret: card numbers in a data file get fingerprints under this
# key, consistent within the run (same card, same fingerprint) and never printed.
DRY_RUN_CARD_KEY = "fraudctl-rules-dry-run"
MAX_EXAMPLES = 5


class RuleFileError(ValueError):
    """A rule file or data file that cannot be used; the message says what to fix."""


def decode_rules(text: str | bytes, source: str, *, yaml_text: bool = False) -> list[Rule]:
    """Rules from JSON/YAML text (an object or a list of objects), all valid or an error."""
    try:
        if yaml_text:
            import yaml

            document: Any = yaml.safe_load(text)
        else:
            document = orjson.loads(text)
    except Exception as error:  # the parsers' own errors say line and column
        kind = "YAML" if yaml_text else "JSON"
        raise RuleFileError(f"{source} is not valid {kind}: {error}") from None
    items = document if isinstance(document, list) else [document]
    if not items:
        raise RuleFileError(f"{source} holds no rule")
    rules: list[Rule] = []
    problems: list[str] = []
    for index, item in enumerate(items):
        where = source if len(items) == 1 else f"{source} rule #{index + 1}"
        rule_id = item.get("id") if isinstance(item, dict) else None
        if rule_id:
            where += f" ({rule_id})"
        try:
            rule = Rule.from_record(item)
        except InvalidRule as error:
            problems.extend(f"{where}: {name}: {message}" for name, message in error.problems)
            continue
        for position, condition in enumerate(rule.filter):
            if condition.feature in unknown_features(rule, KNOWN_FEATURES):
                problems.append(
                    f"{where}: filter[{position}].field: the job computes no feature "
                    f"{condition.feature!r} (known: {', '.join(KNOWN_FEATURES)})"
                )
        rules.append(rule)
    ids = Counter(rule.id for rule in rules)
    problems.extend(f"{source}: id: {rid!r} appears {n} times" for rid, n in ids.items() if n > 1)
    if problems:
        raise RuleFileError("\n".join(problems))
    return rules


def read_rules(path: Path) -> list[Rule]:
    """The rules in a .json, .yaml or .yml file."""
    try:
        text = path.read_bytes()
    except OSError as error:
        raise RuleFileError(f"cannot read {path}: {error.strerror or error}") from None
    return decode_rules(text, str(path), yaml_text=path.suffix.lower() in (".yaml", ".yml"))


@dataclass
class DataFile:
    """Transactions of a dry-run file in event-time order, and every row that was not one."""

    source: str
    transactions: list[Transaction] = field(default_factory=list)
    bad_rows: Counter[str] = field(default_factory=Counter)
    examples: dict[str, list[int]] = field(default_factory=dict)

    def reject(self, row: int, reason: str) -> None:
        self.bad_rows[reason] += 1
        self.examples.setdefault(reason, [])
        if len(self.examples[reason]) < MAX_EXAMPLES:
            self.examples[reason].append(row)


def read_transactions(path: Path) -> DataFile:
    """A CSV (header row) or JSON Lines file of transactions, as the gateway takes them.

    Columns/keys: user_id, amount, merchant_id, timestamp (ISO-8601 with zone); optional
    transaction_id (default: the row number), currency, location, card_fingerprint or
    card_number (hashed at once, never kept), latitude/longitude.
    """
    data = DataFile(str(path))
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            if path.suffix.lower() == ".csv":
                rows: Iterable[tuple[int, Any]] = enumerate(csv.DictReader(handle), start=2)
            else:
                rows = _json_lines(handle, data)
            masker = CardMasker(DRY_RUN_CARD_KEY)
            for row, record in rows:
                try:
                    data.transactions.append(_transaction(record, row, masker))
                except InvalidTransaction as error:
                    data.reject(row, str(error).split(", got")[0])
    except OSError as error:
        raise RuleFileError(f"cannot read {path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise RuleFileError(f"{path} is not UTF-8 text (CSV or JSON Lines)") from None
    data.transactions.sort(key=lambda txn: txn.event_time_ms)
    return data


def _json_lines(handle: Iterable[str], data: DataFile) -> Iterable[tuple[int, Any]]:
    for row, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            yield row, orjson.loads(line)
        except orjson.JSONDecodeError:
            data.reject(row, "not valid JSON")


def _transaction(record: Any, row: int, masker: CardMasker) -> Transaction:
    if not isinstance(record, dict):
        raise InvalidTransaction("a row must be an object")
    values = {key: value for key, value in record.items() if value not in (None, "")}
    for name in ("amount", "latitude", "longitude"):
        if isinstance(values.get(name), str):
            try:
                values[name] = float(values[name])
            except ValueError:
                raise InvalidTransaction(f"{name} must be a number") from None
    values.setdefault("transaction_id", f"row-{row}")
    values.setdefault("location", "unknown")
    number = values.pop("card_number", None)
    if number is not None:
        try:
            masked = masker.mask(card_digits(str(number)))
        except CardNumberError as error:
            raise InvalidTransaction(f"card_number {error.message}") from None
        values.setdefault("card_fingerprint", masked.fingerprint)
        values.setdefault("card_last4", masked.last4)
    values.setdefault("card_fingerprint", f"user:{values.get('user_id')}")
    values.setdefault("card_last4", "0000")
    values.pop("label", None)
    return Transaction.from_record(values)
