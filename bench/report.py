"""Targets from issues 6 and 17 checked against a result (reported, never asserted), and a summary."""

from __future__ import annotations

from typing import Any


def _target(name: str, goal: str, measured: float | None, met: bool | None, note: str = "") -> dict[str, Any]:
    return {
        "name": name,
        "target": goal,
        "measured": measured,
        "met": met,
        **({"note": note} if note else {}),
    }


def _at(results: dict[str, Any], scenario: str, concurrency: int) -> dict[str, Any] | None:
    for entry in results["throughput"]:
        if entry["scenario"] == scenario and entry["concurrency"] == concurrency:
            found: dict[str, Any] = entry
            return found
    return None


def _floor(results: dict[str, Any], scenario: str) -> dict[str, Any] | None:
    for entry in results.get("framework_floors", ()):
        if entry["scenario"] == scenario:
            found: dict[str, Any] = entry
            return found
    return None


FLOOR_TARGETS = (("espo-hmac", "Espo HMAC GET"), ("civi-v3-chain", "CiviCRM v3 chain POST"))
"""Issue 17: the gateway's CPU per request at most 1.6 times the bare aiohttp proxy's, per scenario."""


def floor_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for scenario, label in FLOOR_TARGETS:
        entry = _floor(results, scenario)
        cpu = entry.get("cpu_per_request_gateway_vs_aiohttp") if entry else None
        level = f", c={entry['concurrency']}" if entry else ""
        out.append(
            _target(
                f"floor: {label} CPU per request / bare aiohttp proxy{level}",
                "<= 1.6",
                cpu,
                None if cpu is None else cpu <= 1.6,
            )
        )
    return out


THROUGHPUT_VS_NGINX = 0.10
ADDED_LATENCY_MS = (("p50", 0.30), ("p99", 0.80))
REDIS_VS_MEMORY = 0.90
"""Issue 17's targets (the floor ratios are in ``floor_targets``)."""


def targets(results: dict[str, Any], main_level: int) -> list[dict[str, Any]]:
    out = []
    main = _at(results, "espo-hmac", main_level)
    tput = main.get("gateway_vs_nginx") if main else None
    out.append(
        _target(
            f"throughput gateway/nginx, 1 worker, c={main_level}",
            f">= {THROUGHPUT_VS_NGINX}",
            tput,
            None if tput is None else tput >= THROUGHPUT_VS_NGINX,
        )
    )
    added = results["fixed_rate"].get("added_ms_vs_nginx", {})
    rate = results["fixed_rate"].get("rate_per_s")
    for p, limit in ADDED_LATENCY_MS:
        value = added.get(p)
        met = None if value is None else value <= limit
        out.append(_target(f"added {p} latency vs nginx at {rate} req/s (ms)", f"<= +{limit}", value, met))
    redis = results["redis"]
    r = redis.get("redis_vs_memory")
    out.append(
        _target(
            "Redis limiter throughput / memory",
            f">= {REDIS_VS_MEMORY}",
            r,
            None if r is None else r >= REDIS_VS_MEMORY,
        )
    )
    soak = results["soak"]
    growth = soak["rss_growth_pct"]
    out.append(
        _target(f"RSS growth over the soak ({soak['requests']} requests) %", "< 10", growth, growth < 10)
    )
    fd_growth = soak["fds_after"] - soak["fds_before"]
    out.append(_target("open fd growth over the soak", "<= 0", fd_growth, fd_growth <= 0))
    workers = results["workers"]
    w = workers.get("two_vs_one")
    cores_allow = workers.get("cores_allow", False)
    out.append(
        _target(
            "--workers 2 throughput / 1 worker",
            ">= 1.6 where cores allow",
            w,
            (w >= 1.6) if (w is not None and cores_allow) else None,
            ""
            if cores_allow
            else f"{workers.get('cpus')} CPUs shared by wrk, nginx and the gateway: not judged",
        )
    )
    return out + floor_targets(results)


def _row(label: str, run: dict[str, Any] | None) -> str:
    if not run:
        return f"  {label:<22} -"
    flag = "" if run.get("valid", True) else "  (ERRORS: " + str(run["errors"]) + ")"
    return (
        f"  {label:<22} {run['requests_per_s']:>9.0f} req/s   p50 {run['p50_ms']:>7.3f}  "
        f"p90 {run['p90_ms']:>7.3f}  p99 {run['p99_ms']:>7.3f} ms  "
        f"cpu {run.get('cpu_us_per_request')} us/req{flag}"
    )


def _comparison(title: str, entry: dict[str, Any]) -> list[str]:
    lines = [title]
    for name in ("direct", "nginx", "aiohttp", "gateway"):
        if name in entry:
            lines.append(_row(name, entry[name]))
    if "gateway_vs_nginx" in entry:
        added = entry["added_ms_vs_nginx"]
        lines.append(
            f"  gateway/nginx {entry['gateway_vs_nginx']} "
            f"(CPU per request x{entry['cpu_per_request_gateway_vs_nginx']}), "
            f"gateway/direct {entry.get('gateway_vs_direct')}; "
            f"added p50 {added['p50']:+.3f} p90 {added['p90']:+.3f} p99 {added['p99']:+.3f} ms"
        )
    return lines


def summary(results: dict[str, Any]) -> str:
    meta = results["meta"]
    m = meta["machine"]
    lines = [
        f"crm-auth-gateway benchmark ({meta['mode']}) {meta['date']}",
        f"  {m['cpu_model']}, {m['cpus']} CPUs, {m['memory_gib']} GiB; {m['tools']['wrk']}, "
        f"nginx {m['tools']['nginx']}; load average at start {meta.get('loadavg_at_start')}",
        "",
    ]
    for entry in results["throughput"]:
        lines += _comparison(f"{entry['scenario']}  c={entry['concurrency']}", entry)
    for floor in results.get("framework_floors", ()):
        title = f"framework floor (bare aiohttp proxy), {floor['scenario']}  c={floor['concurrency']}"
        lines += _comparison(title, floor)
        lines.append(
            f"  gateway/aiohttp throughput {floor['gateway_vs_aiohttp']}, "
            f"CPU per request x{floor['cpu_per_request_gateway_vs_aiohttp']}"
        )
    v3 = results["v3_chain"]
    lines += _comparison(f"v3 chain  c={v3['concurrency']}", v3)
    if "fixed_rate" in v3:
        lines += _comparison(f"v3 chain at {v3['fixed_rate']['rate_per_s']} req/s", v3["fixed_rate"])
    fixed = results["fixed_rate"]
    lines += _comparison(f"fixed rate {fixed['rate_per_s']} req/s, c={fixed['concurrency']}", fixed)
    redis = results["redis"]
    if redis.get("available"):
        lines.append(f"redis limiter  c={redis['concurrency']}")
        lines.append(_row("gateway memory", redis["memory"]))
        lines.append(_row("gateway redis", redis["redis"]))
        lines.append(_row(f"redis @{redis['fixed_rate']['rate_per_s']}/s", redis["fixed_rate"]["gateway"]))
        lines.append(f"  redis/memory {redis['redis_vs_memory']}")
    else:
        lines.append(f"redis limiter: skipped ({redis.get('reason')})")
    soak = results["soak"]
    lines.append(
        f"soak: {soak['requests']} requests in {soak['seconds']} s; RSS {soak['rss_kib_before']} -> "
        f"{soak['rss_kib_after']} KiB ({soak['rss_growth_pct']:+.2f} %), fds {soak['fds_before']} -> "
        f"{soak['fds_after']}"
    )
    workers = results["workers"]
    lines.append(f"workers  c={workers['concurrency']}")
    lines.append(_row("1 worker", workers["one"]))
    lines.append(_row("2 workers", workers["two"]))
    lines.append(f"  2 workers / 1 worker {workers['two_vs_one']} ({workers['cpus']} CPUs)")
    lines.append("")
    lines.append("targets (reported, not asserted):")
    for t in results["targets"]:
        verdict = {True: "met", False: "MISSED", None: "n/a"}[t["met"]]
        note = f"  [{t['note']}]" if "note" in t else ""
        lines.append(f"  {verdict:<6} {t['name']}: {t['measured']} (target {t['target']}){note}")
    return "\n".join(lines)
