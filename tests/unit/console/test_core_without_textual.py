"""fraudctl.alerts must import without Textual (the dashboard and scripts use it)."""

from __future__ import annotations

import subprocess
import sys

BLOCKER = """
import sys

class NoTextual:
    def find_spec(self, name, path=None, target=None):
        if name == "textual" or name.startswith("textual."):
            raise ImportError(f"{name} is blocked in this test")
        return None

sys.meta_path.insert(0, NoTextual())
import fraudctl.alerts
import fraudctl.alerts.health, fraudctl.alerts.quality, foundation.alert_stream
import gateway.dashboard.client_feed
try:
    import textual  # the blocker works
except ImportError:
    pass
else:
    raise SystemExit("blocker failed")
assert not any(m == "textual" or m.startswith("textual.") for m in sys.modules), "textual loaded"
print("ok")
"""


def test_alerts_core_imports_without_textual() -> None:
    done = subprocess.run(
        [sys.executable, "-c", BLOCKER], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_console_package_does_not_load_textual_until_run() -> None:
    code = "import sys, fraudctl.console; print('textual' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "False", done.stderr
