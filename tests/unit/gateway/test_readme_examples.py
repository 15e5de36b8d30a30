"""The README's seed scenario, as written there, against the gateway app (fake producer)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import orjson

from tests.unit.gateway.conftest import Gateway

ROOT = Path(__file__).resolve().parents[3]


def readme_curls() -> list[list[str]]:
    """Every curl command in the README's seed scenario, split as a shell would."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## The seed scenario", 1)[1].split("\n## ", 1)[0]
    [block] = re.findall(r"```bash\n(.*?)```", section, flags=re.DOTALL)
    commands = re.split(r"\n(?=\S)", block)
    return [shlex.split(cmd, comments=True) for cmd in commands if cmd.startswith("curl")]


def test_the_readme_posts_both_seed_transactions_and_reads_health(gateway: Gateway) -> None:
    curls = readme_curls()
    posts = [args for args in curls if "POST" in args]
    gets = [args for args in curls if "POST" not in args]
    assert len(posts) == 2 and len(gets) == 1

    for args in posts:
        url = args[args.index("-X") + 2]
        body = args[args.index("-d") + 1]
        assert url == "http://localhost:8000/transaction"
        response = gateway.post(
            "/transaction", content=body.encode(), headers={"content-type": "application/json"}
        )
        assert response.status_code == 202, response.text
    assert [v["transaction_id"] for v in gateway.producer.values()] == [
        "txn_normal_001",
        "txn_fraud_002",
    ]

    [health] = gets
    assert health[-1] == "http://localhost:8000/health"
    answer = gateway.get("/health")
    assert answer.status_code == 200
    text = (ROOT / "README.md").read_text()
    assert orjson.dumps(answer.json()).decode() in text


def test_every_relative_link_in_the_docs_resolves() -> None:
    # Written by their owners in parallel; linked from here already.
    pending = {ROOT / "docs" / "learning.md", ROOT / "docs" / "contracts.md"}
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if "://" in target:
                continue
            path = (page.parent / target).resolve()
            if not path.exists() and path not in pending:
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert broken == []
