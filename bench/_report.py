"""Shared by the benchmarks: the machine line and appending a dated section to docs/."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 2**20:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    return f"{os.cpu_count()} cores ({cpu}){mem}, Python {sys.version.split()[0]}"


def append(doc: str, title: str, command: str, body: str) -> None:
    """Append one section (a single write, so parallel writers don't interleave)."""
    today = _dt.date.today().isoformat()
    text = f"\n## {title} ({today})\n\nMachine: {machine()}. Command: `{command}`\n\n{body.strip()}\n"
    with open(DOCS / doc, "a") as f:
        f.write(text)
