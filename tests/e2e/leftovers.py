"""Which processes still belong to a run: anything whose command line or environment names its root."""

from __future__ import annotations

import os
from pathlib import Path


def processes_under(root: Path) -> list[str]:
    needle = str(root).encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            stat = (entry / "stat").read_text()
            if stat[stat.rfind(")") + 2] == "Z":
                continue  # a zombie waits to be reaped; it runs nothing
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in cmdline or needle in environ:
            command = cmdline.replace(b"\0", b" ").decode(errors="replace")[:120]
            found.append(f"{entry.name}: {command}")
    return found
