"""A learner's web app run as a process of its own by a lab's probes (labs 03 and 10): the error a
test reports when it does not come up, and the reason read from its log."""
from __future__ import annotations

import re
from pathlib import Path


class AppDidNotStart(AssertionError):
    """``uvicorn app:app`` exited or did not answer; the message says why, from its log."""


def no_wrap(argv: list[str]) -> list[str]:
    """The command as it is (outside grading, where no sandbox prefix is added)."""
    return argv


def reason_from_log(log_path: Path, fallback: str) -> str:
    """The last line of the app's log, and the learner's file and line that raised, if any."""
    lines = log_path.read_text(errors="replace").strip().splitlines() if log_path.is_file() else []
    lines = [line for line in lines if line.strip()]
    yours = [f"{Path(m[1]).name} line {m[2]}" for m in (re.search(r'File "([^"]+)", line (\d+)', line) for line in lines)
             if m and "site-packages" not in m[1] and not m[1].startswith("<")]
    reason = lines[-1].strip()[:300] if lines else fallback
    return reason + (f" (raised in {yours[-1]})" if yours else "")
