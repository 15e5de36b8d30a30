"""Simulated traffic behind the console: `fraudctl simulate --json` in a child process.

The console owns the terminal, so the simulator runs in its own session (the terminal's
Ctrl-C does not reach it), writes its log to the state dir and its summary to a pipe;
stopping it sends SIGINT to that one pid and reads the summary it prints.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from foundation.settings import Settings, settings_env


def log_path(settings: Settings) -> Path:
    return settings.state_dir / "logs" / "simulate-background.log"


def start_background_simulation(
    settings: Settings, rate: float, extra_args: list[str] | None = None
) -> subprocess.Popen[bytes]:
    """Start `fraudctl simulate --rate RATE --json` (until stopped) against `settings`."""
    path = log_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "fraudctl.cli", "simulate", "--rate", f"{rate:g}", "--json"]
    command += extra_args or []
    with path.open("ab") as log:
        return subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            env={**os.environ, **settings_env(settings)},
            start_new_session=True,
        )


def stop_background_simulation(
    process: subprocess.Popen[bytes], timeout_s: float = 40.0
) -> dict[str, Any] | None:
    """Stop it like Ctrl-C would and return its summary (None if it had none to give)."""
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
    try:
        out, _ = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        return None
    try:
        summary = json.loads(out.decode() or "null")
    except json.JSONDecodeError:
        return None
    return summary if isinstance(summary, dict) else None
