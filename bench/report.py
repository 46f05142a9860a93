"""Printing figures: one block per workload as it finishes, one summary table at the end."""

from typing import Any

from bench.workloads import TARGETS


def _num(value: Any, digits: int = 1) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return f"{value:,}"


def errors_text(result: dict[str, Any]) -> str:
    """Every non-2xx status (with its problem code) and exception, most frequent first."""
    bad = {
        k: v for k, v in result.get("results", {}).items() if not (k[:1] == "2" or k in ("committed", "read"))
    }
    return ", ".join(f"{k}: {v}" for k, v in bad.items()) or "none"


HEADER = f"  {'side':<34} {'clients':>7} {'ok/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} {'errors':>7}"


def phase_row(name: str, result: dict[str, Any]) -> str:
    if "error" in result:
        return f"  {name:<34} load generator failed: {result['error'].splitlines()[0]}"
    latency = result["latency_ms"]
    return (
        f"  {name:<34} {result['clients']:>7} {_num(result['throughput']):>9} {_num(latency['p50'], 2):>8}"
        f" {_num(latency['p95'], 2):>8} {_num(latency['p99'], 2):>8} {_num(latency['max'], 2):>8}"
        f" {_num(result['errors']):>7}"
    )


def phase_details(result: dict[str, Any]) -> list[str]:
    if "error" in result:
        return ["    " + line for line in result["error"].splitlines()[-6:]]
    lines = []
    for label, figures in result.get("by_label", {}).items():
        latency = figures["latency_ms"]
        lines.append(
            f"    {label:<32} {_num(figures['throughput']):>9} ok/s  p50 {_num(latency['p50'], 2)}"
            f"  p99 {_num(latency['p99'], 2)} ms  errors {figures['errors']}"
        )
    lines.append(f"    errors by status: {errors_text(result)}")
    if result.get("outcomes"):
        lines.append("    answers: " + ", ".join(f"{k}: {v:,}" for k, v in result["outcomes"].items()))
    used = result["cpu_cores"]
    loadgen = result["loadgen"]
    per_request = ""
    if result.get("throughput"):
        per_request = "  | per ok request: " + ", ".join(
            f"{k} {used[k] / result['throughput'] * 1000:.2f} ms" for k in used if k not in ("loadgen", "other", "idle") and used[k]
        )
    lines.append("    CPU cores: " + "  ".join(f"{k} {v:.2f}" for k, v in used.items()) + per_request)
    if result.get("app_resident_mib"):
        lines.append("    service memory (resident, MiB per process): "
                     + ", ".join(f"{size:,.1f}" for size in result["app_resident_mib"]))
    if len(result.get("connections_per_worker") or ()) > 1:
        moved = result.get("rebalanced") or {}
        how = f" (as accepted: {moved['before']}; {moved['moves']} reconnected)" if moved.get("moves") else ""
        lines.append(
            f"    keep-alive connections per service worker: {result['connections_per_worker']}{how}"
        )
    lines.append(
        f"    load generator: {loadgen['cpu_of_one_core']:.0%} of one core"
        f" ({loadgen['cpu_us_per_request']} us a request), event-loop lag p99 {loadgen['loop_lag_ms_p99']} ms"
    )
    if used.get("other", 0) > 0.25:
        lines.append(
            f"    WARNING: {used['other']:.2f} cores went to processes outside the bench; figures are low"
        )
    db = result.get("database") or {}
    if db:
        sessions = ", ".join(f"{k} {v}" for k, v in db.get("sessions_avg", {}).items())
        lines.append(
            f"    PostgreSQL: {_num(db.get('commits_per_s'))} commits/s, {_num(db.get('rollbacks_per_s'))}"
            f" rollbacks/s, {db.get('new_sessions', '-')} new sessions; sessions by state (avg): {sessions or '-'}"
        )
    return lines


def target_text(key: str, figures: dict[str, float | None]) -> list[str]:
    out = []
    for target in TARGETS.get(key, []):
        measured = figures.get(target.metric)
        met = target.met(measured)
        verdict = "n/a" if met is None else ("meets" if met else "below")
        shown = (
            "-"
            if measured is None
            else (f"{measured:.2f}" if target.metric == "ratio" else f"{measured:,.1f}")
        )
        out.append(f"target {target.text}: {shown} -> {verdict}")
    return out


def check_text(check: dict[str, Any]) -> list[str]:
    if "error" in check:
        return [f"  erp check: could not run: {check['error']}"]
    lines = [f"  erp check: {check['held']} of {check['of']} invariants hold ({check['seconds']} s)"]
    for violation in check["violations"]:
        lines.append(f"    FAIL {violation['rule']}: {violation['rows'][:3]}")
    return lines


def summary_table(results: dict[str, Any]) -> list[str]:
    rows = [
        f"{'workload':<44} {'ok/s':>9} {'p50':>7} {'p95':>7} {'p99':>7} {'errors':>7} {'floor/s':>9} {'app/floor':>9}  targets",
    ]
    for key, workload in results["workloads"].items():
        for side_name, side in workload.get("phases", {}).items():
            if side.get("target") == "floor" or "error" in side:
                if "error" in side:
                    rows.append(f"{key + ' ' + side_name:<44} failed: {side['error'].splitlines()[0]}")
                continue
            latency = side["latency_ms"]
            pair = workload.get("floors", {}).get(side_name) or {}
            floor, ratio = pair.get("floor_throughput"), pair.get("ratio")
            figures = {"throughput": side["throughput"], "ratio": ratio, "p99_ms": latency["p99"]}
            target_key = key if key != "W4" else ("W4-1" if side_name.startswith("1 SKU") else "")
            verdicts = "; ".join(target_text(target_key, figures)) if target_key else ""
            sellout = workload.get("sellout")
            if sellout:
                verdicts = (
                    f"reserved {sellout['database'].get('reserved')} of {sellout['units']},"
                    f" 409 insufficient_stock {sellout['refused_409_insufficient_stock']}"
                )
                if sellout.get("floor"):
                    verdicts += f"; floor reserved {sellout['floor']['database'].get('reserved')}"
            rows.append(
                f"{key + ' ' + side_name:<44} {_num(side['throughput']):>9} {_num(latency['p50'], 1):>7}"
                f" {_num(latency['p95'], 1):>7} {_num(latency['p99'], 1):>7} {_num(side['errors']):>7}"
                f" {_num(floor):>9} {_num(ratio, 2):>9}  {verdicts.replace('target ', '')}"
            )
    return rows


def environment_lines(results: dict[str, Any]) -> list[str]:
    """How far the figures can be trusted: the load generator's headroom and the machine's other load."""
    phases = [
        p for w in results["workloads"].values() for p in w.get("phases", {}).values() if "error" not in p
    ]
    if not phases:
        return []
    busiest = max(phases, key=lambda p: p["loadgen"]["cpu_of_one_core"] or 0)
    lag = max(p["loadgen"]["loop_lag_ms_p99"] for p in phases)
    other = max(p["cpu_cores"].get("other", 0) for p in phases)
    service = results.get("service", {})
    lines = [
        f"service: {service.get('workers')} {service.get('server', 'uvicorn')} worker(s) ({service.get('chosen_by')});"
        f" load generator at most {busiest['loadgen']['cpu_of_one_core']:.0%} of one core ({busiest['phase']}),"
        f" event-loop lag p99 at most {lag} ms",
    ]
    if other > 0.25:
        lines.append(
            f"WARNING: up to {other:.2f} cores went to processes outside the bench: rerun on a quiet machine"
        )
    return lines
