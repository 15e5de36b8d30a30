"""Reading labelled files: columns, labels, times, bad rows, derived cards."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from fraudctl.backtest.dataset import (
    DatasetError,
    build_dataset,
    derived_card,
    format_ms,
    load_dataset,
    parse_column_map,
    parse_label,
    parse_time,
)
from models.contracts.card import luhn_valid

CARD = "4111111111111111"


def table(**overrides: list[object]) -> dict[str, list[object]]:
    base: dict[str, list[object]] = {
        "transaction_id": ["t1", "t2", "t3"],
        "user_id": ["u1", "u2", "u1"],
        "card_number": [CARD, CARD, CARD],
        "merchant_id": ["m1", "m2", "m1"],
        "amount": ["10.5", "20", "30"],
        "timestamp": ["2025-07-01T10:00:00Z", "2025-07-01T09:00:00Z", "2025-07-02T00:00:00+02:00"],
        "label": ["fraud", "0", "TRUE"],
    }
    base.update(overrides)
    return base


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1, True), (0, False), (1.0, True), ("1", True), ("0.0", False), (True, True),
        ("fraud", True), (" Legit ", False), ("true", True), ("False", False),
        ("2", None), ("maybe", None), (None, None), (float("nan"), None), (2, None),
    ],
)  # fmt: skip
def test_labels(value: object, expected: bool | None) -> None:
    assert parse_label(value) is expected


def test_rows_come_sorted_by_event_time_with_labels() -> None:
    data = build_dataset(table(), {})
    assert [row.transaction_id for row in data.rows] == ["t2", "t1", "t3"]
    assert [row.fraud for row in data.rows] == [False, True, True]
    assert data.rows[2].timestamp == "2025-07-01T22:00:00Z"  # +02:00 converted to UTC
    assert data.bad.count == 0 and data.size == 3
    assert data.rows[0].location == "Online"  # no location column, no coordinates


def test_bad_rows_are_counted_with_reasons_and_never_show_the_card() -> None:
    data = build_dataset(
        table(
            transaction_id=["t1", "t1", "t3"],
            amount=["10", "20", "abc"],
            card_number=[CARD, "4242424242424242", CARD],
        ),
        {},
    )
    assert len(data.rows) == 1
    assert data.bad.count == 2
    assert data.bad.reasons["amount is not a number"] == 1
    assert data.bad.reasons["duplicate transaction_id (the first row with it is kept)"] == 1
    text = str(data.bad.to_dict())
    assert CARD not in text and "4242424242424242" not in text
    assert data.bad.examples[0][0].startswith("row ")


def test_every_kind_of_bad_value_has_a_reason() -> None:
    data = build_dataset(
        table(
            transaction_id=["a", "b", "c", "d", "e"],
            user_id=["u", "", "u", "u", "u"],
            card_number=[CARD] * 5,
            merchant_id=["m"] * 5,
            amount=["1", "1", "1", "inf", "2"],
            timestamp=["yesterday", *["2025-07-01T00:00:00Z"] * 2, "1751328000", "1751328000"],
            label=["1", "1", "perhaps", "0", "legit"],
        ),
        {},
    )
    assert [row.transaction_id for row in data.rows] == ["e"]
    assert set(data.bad.reasons) == {
        "timestamp is not ISO-8601 (e.g. 2025-07-15T10:00:00Z)",
        "user_id is empty",
        "label is not one of 1/0, true/false, fraud/legit",
        "amount is not a finite number",
    }


def test_all_rows_bad_is_an_error() -> None:
    with pytest.raises(DatasetError, match=r"no usable rows \(3 in the file, 3 bad: 3 × label"):
        build_dataset(table(label=["x", "y", "z"]), {})


def test_missing_required_column_names_it_and_the_fix() -> None:
    data = table()
    del data["label"]
    with pytest.raises(DatasetError, match=r"label \(column 'label'\).*--column"):
        build_dataset(data, {})


def test_column_mapping_and_derived_cards() -> None:
    data = table()
    data["is_fraud"] = data.pop("label")
    del data["card_number"]
    dataset = build_dataset(data, parse_column_map(["label=is_fraud"]))
    cards = {row.user_id: row.card_number for row in dataset.rows}
    assert cards["u1"] == derived_card("user:u1") != cards["u2"]
    assert all(luhn_valid(card) and len(card) == 16 for card in cards.values())
    assert any("derived from the user id" in note for note in dataset.notes)


def test_column_map_errors() -> None:
    with pytest.raises(DatasetError, match="NAME=SOURCE"):
        parse_column_map(["label"])
    with pytest.raises(DatasetError, match="is not a field"):
        parse_column_map(["colour=c"])


def test_times_naive_epoch_and_datetime() -> None:
    assert parse_time("2025-07-01T00:00:00Z") == (1_751_328_000_000, False)
    assert parse_time("2025-07-01 00:00:00") == (1_751_328_000_000, True)
    assert parse_time(1_751_328_000) == (1_751_328_000_000, False)
    assert parse_time("1751328000000") == (1_751_328_000_000, False)
    assert parse_time(pd.Timestamp("2025-07-01T00:00:00Z")) == (1_751_328_000_000, False)
    with pytest.raises(ValueError, match="empty"):
        parse_time("")
    assert format_ms(1_751_328_000_250) == "2025-07-01T00:00:00.250Z"


def test_naive_timestamps_are_noted() -> None:
    dataset = build_dataset(table(timestamp=["2025-07-01 10:00:00"] * 3), {})
    assert any("no time zone" in note for note in dataset.notes)


def test_csv_and_parquet_files(tmp_path: Path) -> None:
    frame = pd.DataFrame(table(card_number=["0041111111111111"] * 3))
    frame["pattern"] = ["card_testing", "", "amount_spike"]
    csv_path, parquet_path = tmp_path / "x.csv", tmp_path / "x.parquet"
    frame.to_csv(csv_path, index=False)
    frame.to_parquet(parquet_path)
    for path in (csv_path, parquet_path):
        dataset = load_dataset(path)
        assert dataset.has_pattern
        assert dataset.rows[0].card_number == "0041111111111111"  # leading zeros kept
        assert [row.pattern for row in dataset.rows] == [None, "card_testing", "amount_spike"]


def test_file_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such file"):
        load_dataset(tmp_path / "missing.csv")
    odd = tmp_path / "x.xlsx"
    odd.write_text("x")
    with pytest.raises(DatasetError, match="unknown format"):
        load_dataset(odd)


def test_card_stored_as_float_is_a_bad_row() -> None:
    data = table(card_number=[4.111111111111111e15, CARD, CARD])
    dataset = build_dataset(data, {})
    assert dataset.bad.count == 1
    assert "decimal number" in next(iter(dataset.bad.reasons))
