"""A process and its descendants, read from Linux's /proc (tests and benchmarks)."""

from __future__ import annotations

import os


def process_tree(root: int) -> list[int]:
    """``root`` and its living descendants, found through each thread's ``children``
    file. Processes that end while it reads are skipped with what they held."""
    tree, pending = [], [root]
    while pending:
        pid = pending.pop()
        tree.append(pid)
        try:
            for task in os.scandir(f"/proc/{pid}/task"):
                with open(os.path.join(task.path, "children"), encoding="ascii") as children:
                    pending.extend(int(child) for child in children.read().split())
        except (OSError, ValueError):
            continue
    return tree


def peak_resident_kib(pid: int | str = "self") -> int | None:
    """The peak resident memory of ``pid`` since it started its program (``VmHWM``), in
    KiB; None when it cannot be read (the process is gone, or this is not Linux)."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return None
