"""`fraudctl train --data FILE` and the decision-log join behind `--from-log`."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import typer
from typer.testing import CliRunner

from fraudctl import log_training
from fraudctl.commands import train as train_command
from models.contracts.decision import decision_json
from models.contracts.label import Label
from models.contracts.transaction import Transaction
from models.features import FEATURE_NAMES
from models.generator import generate_dataset
from models.label_risk import LABEL_FEATURE_NAMES
from models.labelled_file import DataFileError, parse_column_map, read_labelled_file
from models.registry import ModelRegistry

DAY = 86_400_000


def app() -> typer.Typer:
    application = typer.Typer()
    train_command.register(application)

    @application.command("noop")
    def noop() -> None:
        """Nothing."""

    return application


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """Generated traffic as a public dataset would have it (other column names)."""
    data = generate_dataset(seed=3, n_users=150, days=10, fraud_ratio=0.06)
    rows = [
        {
            "TX_ID": r.transaction.transaction_id,
            "CUSTOMER": r.transaction.user_id,
            "TERMINAL": r.transaction.merchant_id,
            "TX_AMOUNT": r.transaction.amount,
            "TX_TIME": r.transaction.timestamp.isoformat().replace("+00:00", ""),
            "TX_FRAUD": int(r.label is not None),
        }
        for r in data.records
    ]
    return pd.DataFrame(rows)


COLUMNS = [
    "--column", "transaction_id=TX_ID", "--column", "user_id=CUSTOMER",
    "--column", "merchant_id=TERMINAL", "--column", "amount=TX_AMOUNT",
    "--column", "timestamp=TX_TIME", "--column", "label=TX_FRAUD",
]  # fmt: skip


def test_train_on_a_csv_reports_bad_rows(frame: pd.DataFrame, tmp_path: Path) -> None:
    bad = frame.astype({"TX_FRAUD": object})
    bad.loc[0, "TX_AMOUNT"] = 0.0
    bad.loc[1, "TX_TIME"] = "yesterday"
    bad.loc[2, "TX_FRAUD"] = "maybe"
    path = tmp_path / "tx.csv"
    bad.sample(frac=1.0, random_state=1).to_csv(path, index=False)  # any row order
    registry = tmp_path / "models"
    options = ["--label-delay", "2d", "--json", "--output-dir", str(registry)]
    result = CliRunner().invoke(app(), ["train", "--data", str(path), *COLUMNS, *options])
    assert result.exit_code == 0, result.output
    card = json.loads(result.output)
    assert card["data"]["rows_total"] == len(frame)
    assert card["data"]["rows_used"] == len(frame) - 3
    reasons = " ".join(card["data"]["bad_rows"])
    assert "amount" in reasons and "timestamp" in reasons and "label" in reasons
    kept = frame.drop(index=[0, 1, 2])
    assert card["supervised"]["label_counts"]["fraud"] == int(kept["TX_FRAUD"].sum())
    assert card["model_version"] == ModelRegistry(registry).current_version()
    assert card["supervised"]["test"]["average_precision"] > 0.3


def test_parquet_and_default_card_from_user(frame: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "tx.parquet"
    frame.head(500).to_parquet(path)
    loaded = read_labelled_file(path, parse_column_map(COLUMNS[1::2]))
    assert len(loaded.records) == 500 and not loaded.bad_rows
    times = [txn.event_time_ms for txn, _ in loaded.records]
    assert times == sorted(times)
    by_user: dict[str, set[str]] = {}
    for txn, _ in loaded.records:
        by_user.setdefault(txn.user_id, set()).add(txn.card_fingerprint)
    assert all(len(cards) == 1 for cards in by_user.values())


def test_file_errors_are_clear(frame: pd.DataFrame, tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="no file"):
        read_labelled_file(tmp_path / "none.csv")
    path = tmp_path / "tx.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(DataFileError, match="--column"):
        read_labelled_file(path)
    with pytest.raises(DataFileError, match="NAME=SOURCE"):
        parse_column_map(["amount"])
    with pytest.raises(DataFileError, match="not a column"):
        parse_column_map(["colour=X"])
    result = CliRunner().invoke(
        app(), ["train", "--data", str(path), "--output-dir", str(tmp_path / "m")]
    )
    assert result.exit_code == 1 and "lacks" in result.output


def _decision(txn: Transaction, with_labels: bool = True) -> bytes:
    features = dict.fromkeys(FEATURE_NAMES, 1.0)
    if with_labels:
        features |= dict.fromkeys(LABEL_FEATURE_NAMES, 0.0)
    return decision_json(
        txn,
        score=0.1,
        threshold=0.5,
        flagged=False,
        reasons=[],
        features=features,
        model_version="gbt-x",
        scored_at=txn.event_time_ms,
        anomaly_score=0.3,
    ).encode()


def test_join_log_uses_only_arrived_labels() -> None:
    data = generate_dataset(seed=4, n_users=20, days=20, fraud_ratio=0.0)
    txns = [r.transaction for r in data.records]
    first, second, old, recent = txns[0], txns[1], txns[2], txns[-1]
    newest = recent.event_time_ms
    labels = [
        Label(first.transaction_id, "legit", "analyst", first.event_time_ms + DAY).to_json(),
        Label(first.transaction_id, "fraud", "chargeback", first.event_time_ms + 2 * DAY).to_json(),
        Label(second.transaction_id, "fraud", "chargeback", newest).to_json(),
        b"{not json",
    ]
    decisions = [
        _decision(first),
        _decision(first),
        _decision(second),
        _decision(old),
        _decision(recent),
        _decision(txns[3], with_labels=False),
    ]
    joined = log_training.join_log(iter(decisions), iter(labels), 7 * DAY)
    assert joined.fraud == [True, True, False]  # overturned verdict, fraud, assumed genuine
    assert joined.summary == {"decisions": 6, "labels": 4}
    skipped = " ".join(joined.skipped)
    for text in ("bad label", "repeated decision", "no label yet", "older job or feature set"):
        assert text in skipped, text
    assert len(joined.user[0]) == len(FEATURE_NAMES)
    assert len(joined.label[0]) == len(LABEL_FEATURE_NAMES)
