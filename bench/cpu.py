"""Who used the CPU during a measurement: the app's processes, PostgreSQL's, the load generator, the rest.

Read from /proc, so it costs nothing while the load runs. Figures are in cores (1.0 = one core busy for
the whole window); on this 2-core machine they add up to at most 2.
"""

import os
from dataclasses import dataclass

TICK = os.sysconf("SC_CLK_TCK")


def _processes() -> dict[int, tuple[int, str, int]]:
    """pid -> (ppid, comm, utime + stime ticks)."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                raw = f.read().decode(errors="replace")
        except OSError:
            continue
        comm = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        found[int(entry)] = (int(fields[1]), comm, int(fields[11]) + int(fields[12]))
    return found


def _busy_ticks() -> tuple[int, int]:
    """(busy, total) ticks of the whole machine."""
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    total = sum(values[:8])
    return total - idle, total


@dataclass
class Snapshot:
    groups: dict[str, int]
    busy: int
    total: int


class Sampler:
    """Groups: each named root pid with all its descendants; `postgres` also by name when no pid is known."""

    def __init__(self, roots: dict[str, int | None]) -> None:
        self.roots = roots

    def snapshot(self) -> Snapshot:
        processes = _processes()
        children: dict[int, list[int]] = {}
        for pid, (ppid, _, _) in processes.items():
            children.setdefault(ppid, []).append(pid)
        groups = {}
        for name, root in self.roots.items():
            if root is None:
                members = [pid for pid, (_, comm, _) in processes.items() if comm == name]
            else:
                members, stack = [], [root]
                while stack:
                    pid = stack.pop()
                    if pid in processes:
                        members.append(pid)
                    stack.extend(children.get(pid, ()))
            groups[name] = sum(processes[pid][2] for pid in members)
        busy, total = _busy_ticks()
        return Snapshot(groups, busy, total)


def cores_used(start: Snapshot, end: Snapshot, seconds: float) -> dict[str, float]:
    """Cores per group over the window, plus `other` (busy but in no group) and `idle`.

    Processes that exit inside the window lose their ticks from the sum, so a group can read a little
    low; the machine-wide `busy` figure is exact.
    """
    used = {
        name: max(0, end.groups[name] - start.groups.get(name, 0)) / TICK / seconds for name in end.groups
    }
    ncpu = os.cpu_count() or 1
    elapsed_ticks = max(1, end.total - start.total)
    busy = (end.busy - start.busy) / elapsed_ticks * ncpu
    used["other"] = max(0.0, busy - sum(used.values()))
    used["idle"] = max(0.0, ncpu - busy)
    return {name: round(value, 2) for name, value in used.items()}
