"""Spread the load generator's keep-alive connections evenly over the service's uvicorn workers.

uvicorn's workers share one listening socket and whichever is awake accepts: when 64 connections open
in a burst, one worker often takes nearly all of them and keeps them for the whole phase, so "2
workers" measures one busy worker and one idle one. Many independent clients, or a balancer in front,
spread connections evenly; this does the same by closing a connection held by an over-full worker
and opening another until each worker holds its share. Which worker holds which connection is read
from /proc: the client's local port is the server socket's remote port, and the worker is the process
whose file table holds that socket.
"""

import os
from collections.abc import Awaitable, Callable
from typing import Any


def tcp_sockets(port: int) -> tuple[dict[int, str], set[str]]:
    """(remote port -> inode of established server sockets on `port`, inodes of listening sockets)."""
    established: dict[int, str] = {}
    listening: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.readlines()[1:]
        except OSError:
            continue
        for row in rows:
            parts = row.split()
            if int(parts[1].rsplit(":", 1)[1], 16) != port:
                continue
            if parts[3] == "01":
                established[int(parts[2].rsplit(":", 1)[1], 16)] = parts[9]
            elif parts[3] == "0A":
                listening.add(parts[9])
    return established, listening


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    raw = f.read().decode(errors="replace")
            except OSError:
                continue
            children.setdefault(int(raw[raw.rindex(")") + 2 :].split()[1]), []).append(int(entry))
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        found.append(pid)
        stack.extend(children.get(pid, ()))
    return found


def _sockets_of(pid: int) -> set[str]:
    held = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return held
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            held.add(target[8:-1])
    return held


def owners(root: int, port: int, client_ports: list[int]) -> tuple[list[int], list[int | None]]:
    """(the worker pids, and for each client port the worker that serves it, None if unknown)."""
    established, listening = tcp_sockets(port)
    tables = {pid: _sockets_of(pid) for pid in _descendants(root)}
    accepting = [pid for pid, held in tables.items() if held & listening]
    workers = [
        pid for pid in accepting if pid != root
    ] or accepting  # the supervisor listens but never accepts
    by_inode = {inode: pid for pid in workers for inode in tables[pid]}
    return workers, [by_inode.get(established.get(p, ""), None) for p in client_ports]


async def spread(
    connections: list[Any],
    root: int,
    port: int,
    local_port: Callable[[Any], int],
    reconnect: Callable[[Any], Awaitable[Any]],
    max_moves: int = 0,
) -> dict[str, Any]:
    """Rebalance `connections` in place; returns the spread before and after."""
    workers, served = owners(root, port, [local_port(c) for c in connections])
    before = sorted((served.count(w) for w in workers), reverse=True)
    if len(workers) < 2:
        return {"before": before, "after": before, "moves": 0}
    share = -(-len(connections) // len(workers))
    max_moves = max_moves or min(2000, 20 * len(connections))
    moves = 0
    while moves < max_moves:
        counts = {w: served.count(w) for w in workers}
        over = [i for i, w in enumerate(served) if w is None or counts[w] > share]
        if not over:
            break
        i = over[0]
        connections[i] = await reconnect(connections[i])
        moves += 1
        _, (served[i],) = owners(root, port, [local_port(connections[i])])
    after = sorted((served.count(w) for w in workers), reverse=True)
    return {"before": before, "after": after, "moves": moves}
