"""Who used the CPU during a measurement: the app's processes, PostgreSQL's, the load generator, the rest.

Read from /proc, so it costs nothing while the load runs. Figures are in cores (1.0 = one core busy for
the whole window); on this 2-core machine they add up to at most 2.
"""

import os
from dataclasses import dataclass

from bench.balance import tcp_sockets

TICK = os.sysconf("SC_CLK_TCK")


def _processes() -> dict[int, tuple[int, str, int]]:
    """pid -> (ppid, comm, ticks): its own CPU time plus that of the children it has reaped, so a
    PostgreSQL backend or a worker that exits inside a window still counts, in its parent."""
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
        found[int(entry)] = (int(fields[1]), comm, sum(int(v) for v in fields[11:15]))
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
    """Cores per group over the window, plus `other` (busy but in no group) and `idle`."""
    used = {
        name: max(0, end.groups[name] - start.groups.get(name, 0)) / TICK / seconds for name in end.groups
    }
    ncpu = os.cpu_count() or 1
    elapsed_ticks = max(1, end.total - start.total)
    busy = (end.busy - start.busy) / elapsed_ticks * ncpu
    used["other"] = max(0.0, busy - sum(used.values()))
    used["idle"] = max(0.0, ncpu - busy)
    return {name: round(value, 2) for name, value in used.items()}


def connections_by_process(root: int, port: int) -> list[int]:
    """Established connections to `port` held by each process under `root`, largest first: how evenly
    the kernel handed the load generator's keep-alive connections to the service's workers."""
    inodes = set(tcp_sockets(port)[0].values())
    processes = _processes()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in processes.items():
        children.setdefault(ppid, []).append(pid)
    counts, stack = [], [root]
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, ()))
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        held = 0
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            held += target.startswith("socket:[") and target[8:-1] in inodes
        if held:
            counts.append(held)
    return sorted(counts, reverse=True)


def resident_mib(root: int) -> list[float]:
    """Resident memory (VmRSS) of `root` and each of its descendants that holds any, in MiB, largest first:
    the service's memory per process at the end of a phase (uvicorn's supervisor included when there are
    workers)."""
    processes = _processes()
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in processes.items():
        children.setdefault(ppid, []).append(pid)
    sizes, stack = [], [root]
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, ()))
        try:
            with open(f"/proc/{pid}/status") as f:
                kib = next((int(line.split()[1]) for line in f if line.startswith("VmRSS:")), 0)
        except OSError:
            continue
        if kib:
            sizes.append(round(kib / 1024, 1))
    return sorted(sizes, reverse=True)


def machine_busy(seconds: float = 1.0) -> float:
    """Cores busy right now, over `seconds`: anything above ~0.1 is someone else's work."""
    import time

    busy, total = _busy_ticks()
    time.sleep(seconds)
    busy2, total2 = _busy_ticks()
    return round((busy2 - busy) / max(1, total2 - total) * (os.cpu_count() or 1), 2)
