"""Why a transaction was flagged: a stable code for machines, a message for people.

Written by the job into decisions and alerts as `{"code": ..., "message": ...}` and read
back by every alert reader; the rules that produce reasons live in `models.reasons`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Reason:
    """One reason, e.g. `AMOUNT_SPIKE: 100x this user's average`."""

    code: str
    message: str = ""

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.message else self.code

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}

    @classmethod
    def from_dict(cls, value: Any) -> Reason:
        """Parse `{"code": str, "message": str}`; a missing message is empty."""
        if not isinstance(value, dict):
            raise ValueError(f"a reason must be an object with a code, got {value!r:.64}")
        code, message = value.get("code"), value.get("message", "")
        if not isinstance(code, str) or not code:
            raise ValueError(f"a reason needs a non-empty string code, got {code!r:.64}")
        if not isinstance(message, str):
            raise ValueError(f"a reason's message must be a string, got {message!r:.64}")
        return cls(code, message)
