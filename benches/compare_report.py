#!/usr/bin/env python3
"""Prints the table of benches/compare.sh and writes its JSON summary.

    python3 benches/compare_report.py STEPS_DIR OUT.json [--load-end "L1 L5 L15"]

STEPS_DIR holds what compare.sh measured in one run: machine.json, engine.json (benches/seal.rs,
ESEAL_BENCH_JSON), pyhanko-1.json and pyhanko-2.json (scripts/bench_pyhanko.py --duration),
sign.json, sign-update-only.json and cycle.json (eseal bench --json), large.json (openssl and
`eseal sign` of the large file in both answer modes, with the server's RSS), and long.json when the 10-minute run was made. Every ratio is
computed from these files only. A step whose file is missing is reported as not measured.
"""

import argparse
import json
import os
import statistics
import sys


def load(steps: str, name: str):
    path = os.path.join(steps, f"{name}.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def fmt(v, unit: str = "", digits: int = 1) -> str:
    if v is None:
        return "-"
    return f"{v:,.{digits}f}{unit}"


def ratio(a, b):
    return a / b if a is not None and b else None


def verdict(ok, parts=None) -> str:
    text = "-" if ok is None else ("met" if ok else "NOT met")
    if parts:
        text += " (" + "; ".join(f"{name}: {'yes' if good else 'no'}" for name, good in parts) + ")"
    return text


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("steps")
    ap.add_argument("out")
    ap.add_argument("--load-end", default=None)
    args = ap.parse_args()

    machine = load(args.steps, "machine") or {}
    engine = load(args.steps, "engine") or {}
    pys = [p for p in (load(args.steps, "pyhanko-1"), load(args.steps, "pyhanko-2")) if p]
    cycle = load(args.steps, "cycle")
    large = load(args.steps, "large")
    long_run = load(args.steps, "long")

    figures = {}
    rows = []

    def row(measurement, figure, peer="", peer_figure="", r=None, target="", ok=None, parts=None):
        rows.append({"measurement": measurement, "figure": figure, "peer": peer, "peer_figure": peer_figure,
                     "ratio": None if r is None else round(r, 3), "target": target,
                     "met": None if ok is None else bool(ok), "met_parts": parts})

    # Engine in-process, one core.
    small_ec = engine.get("small_ec")
    engine_ms = small_ec["stats"]["median_ns"] / 1e6 if small_ec else None
    engine_per_s = 1000 / engine_ms if engine_ms else None
    figures["engine_small_ec_median_ms"] = engine_ms
    figures["engine_small_ec_seals_per_s_one_core"] = engine_per_s

    # pyHanko: counted throughput of each process over the same window; the aggregate is their sum.
    py_rates = [p["small_ec"]["seals_per_s"] for p in pys if "small_ec" in p]
    py_total = sum(py_rates) if len(py_rates) == 2 else None
    py_one = statistics.mean(py_rates) if py_rates else None
    py_median_ms = statistics.mean(p["small_ec"]["stats"]["median_ns"] / 1e6 for p in pys) if pys else None
    py_late = max((p["small_ec"].get("late_s", 0) for p in pys), default=None)
    # The share of a core each process had: below 1, something else ran on the machine.
    py_cpu_share = [p["small_ec"]["cpu_s"] / p["small_ec"]["wall_s"] for p in pys if p["small_ec"].get("cpu_s") is not None]
    figures["pyhanko_cpu_share"] = py_cpu_share
    figures["pyhanko_seals_per_s_per_process"] = py_rates
    figures["pyhanko_seals_per_s_two_processes"] = py_total
    figures["pyhanko_median_ms"] = py_median_ms
    py_desc = (f"pyHanko {pys[0].get('pyhanko_version', '?')}, 2 processes on 2 cores, counted "
               f"(sum of count/wall of each, {', '.join(f'{r:.1f}' for r in py_rates)}/s)") if pys else "pyHanko (not measured)"

    row("Engine in-process, corpus 01 (140 KB), ECDSA P-256 visible, one core",
        f"{fmt(engine_ms, ' ms', 3)} = {fmt(engine_per_s, '/s')}",
        "pyHanko in-process, one process (mean of the two)", f"{fmt(py_median_ms, ' ms', 1)} median, {fmt(py_one, '/s')} counted",
        ratio(engine_per_s, py_one))

    # The service, sign mode: answering with the whole sealed document, then with the update only.
    for name, answer, prefix in (("sign", "answers: the whole sealed document", "sign"),
                                 ("sign-update-only", "answers: the update only", "sign_update_only")):
        sign = load(args.steps, name)
        if not sign:
            row(f"Service, sign mode ({answer})", "not measured", target=">= 1,000/s, p99 < 50 ms, >= 15x pyHanko", ok=False)
            continue
        t, p99 = sign["throughput"], sign["latency_ms"]["p99"]
        figures.update({f"{prefix}_throughput": t, f"{prefix}_p50_ms": sign["latency_ms"]["p50"], f"{prefix}_p99_ms": p99,
                        f"{prefix}_server_cpu_ms": (sign.get("server_cpu_seconds_per_stamping") or 0) * 1000,
                        f"{prefix}_server_rss_mib": {k: v for k, v in (sign.get("server_rss_mib") or {}).items() if k != "series"}})
        r = ratio(t, py_total)
        row(f"Service, sign mode, {sign['concurrency']} streams, {sign['completed']} stampings, durable audit, {answer} (stampings/s)",
            fmt(t, "/s"), py_desc, fmt(py_total, "/s"), r,
            ">= 1,000/s and >= 15x pyHanko (2 cores)",
            t >= 1000 and r is not None and r >= 15, [("1,000/s", t >= 1000), ("15x", r is not None and r >= 15)])
        row(f"Service, sign mode, {answer}: SignDocument latency p99 (p50)", f"{fmt(p99, ' ms')} ({fmt(sign['latency_ms']['p50'], ' ms')})",
            target="p99 < 50 ms", ok=p99 < 50)
        ceiling = 2 * engine_per_s if engine_per_s else None
        row(f"Service, sign mode, {answer}, against the engine's two-core ceiling (2 x 1000/median)", fmt(t, "/s"),
            "engine in-process x 2 cores", fmt(ceiling, "/s"), ratio(t, ceiling))
        cpu = sign.get("server_cpu_seconds_per_stamping")
        row(f"Service, sign mode, {answer}: server CPU per stamping", fmt(cpu * 1000 if cpu is not None else None, " ms", 2),
            "engine in-process, one seal", fmt(engine_ms, " ms", 3), ratio(cpu * 1000 if cpu is not None else None, engine_ms))
        rss = sign.get("server_rss_mib") or {}
        row(f"Service, sign mode, {answer}: server RSS (start / end / max)",
            f"{fmt(rss.get('start'), '')} / {fmt(rss.get('end'), '')} / {fmt(rss.get('max'), ' MiB')}")

    # The service, cycle mode.
    if cycle:
        t = cycle["throughput"]
        figures.update(cycle_throughput=t, cycle_p99_ms=cycle["cycle_latency_ms"]["p99"],
                       cycle_server_cpu_ms=(cycle.get("server_cpu_seconds_per_stamping") or 0) * 1000)
        row(f"Service, cycle mode (grant + sign), {cycle['concurrency']} streams, {cycle['completed']} cycles (cycles/s)",
            f"{fmt(t, '/s')} (cycle p99 {fmt(cycle['cycle_latency_ms']['p99'], ' ms')})",
            "pyHanko, 2 processes (seals only)", fmt(py_total, "/s"), ratio(t, py_total), ">= 500/s", t >= 500)
    else:
        row("Service, cycle mode", "not measured", target=">= 500/s", ok=False)

    # The large file: `eseal sign` downloading the update only (its default), then the whole
    # sealed document (--whole-document), alternating run by run.
    if large:
        mb = large["bytes"] / 1e6
        openssl_ms = statistics.median(large["openssl_us"]) / 1000
        figures.update(large_bytes=large["bytes"], openssl_ms=openssl_ms)
        for answer, label in (("update_only", "downloading the update only (default)"),
                              ("sealed_document", "downloading the whole sealed document (--whole-document)")):
            runs = [r for r in large["service_runs"] if r.get("answer", "sealed_document") == answer]
            if not runs:
                continue
            service_ms = statistics.median(r["us"] for r in runs) / 1000
            growth = max(r["growth_kib"] for r in runs) / 1024
            figures.update({f"large_{answer}_service_ms": service_ms, f"large_{answer}_runs_ms": [r["us"] / 1000 for r in runs],
                            f"large_{answer}_server_rss_growth_mib": [round(r["growth_kib"] / 1024, 1) for r in runs]})
            r = ratio(service_ms, openssl_ms)
            row(f"Large scanned file ({mb:.1f} MB) through the service, `eseal sign` to a file, {label} (median of {len(runs)})",
                fmt(service_ms, " ms"), f"`openssl dgst -sha256` (median of {len(large['openssl_us'])})", fmt(openssl_ms, " ms"), r,
                "<= 4x openssl", r is not None and r <= 4)
            row(f"Large file through the service, {label}: server peak RSS growth (largest of the runs)",
                fmt(growth, " MiB"), "", "", None, "< 64 MiB", growth < 64)
    else:
        row("Large file through the service", "not measured", target="<= 4x openssl, RSS growth < 64 MiB", ok=False)
    large_ec = engine.get("large_ec")
    if large_ec:
        e_ms, o_ms = large_ec["seal_to_file"]["median_ns"] / 1e6, large_ec["openssl_dgst"]["median_ns"] / 1e6
        figures.update(engine_large_ms=e_ms, engine_large_openssl_ms=o_ms)
        row(f"Large file, engine alone in-process (benches/seal.rs large_ec, file to file, median of {large_ec['seal_to_file']['n']})",
            fmt(e_ms, " ms"), "`openssl dgst -sha256`, timed by benches/seal.rs", fmt(o_ms, " ms"), ratio(e_ms, o_ms))
        mem = engine.get("memory_large_ec")
        if mem:
            row("Large file, engine alone: peak RSS growth", fmt(mem["growth_kib"] / 1024, " MiB"))

    # Sustained load.
    if long_run:
        rss = long_run.get("server_rss_mib") or {}
        one, five, ten = rss.get("at_1min"), rss.get("at_5min"), rss.get("at_10min")
        figures.update(long_throughput=long_run["throughput"], long_rss_mib={k: v for k, v in rss.items() if k != "series"})
        ok = None if one is None or ten is None else ten <= one * 1.05
        row(f"Sustained sign run ({long_run['window_seconds'] / 60:.1f} min, {long_run['completed']} stampings, "
            f"{fmt(long_run['throughput'], '/s')}): server RSS at 1 / 5 / 10 min (max)",
            f"{fmt(one, '')} / {fmt(five, '')} / {fmt(ten, ' MiB')} ({fmt(rss.get('max'), ' MiB')})",
            "RSS at 1 min", fmt(one, " MiB"), ratio(ten, one), "flat: 10 min <= 1 min + 5%", ok)

    # Print.
    print(f"Machine: nproc {machine.get('nproc')}, {machine.get('cpu_model')}, sha_ni {machine.get('sha_ni')}, "
          f"{machine.get('memory_mib')} MiB; {machine.get('rust')}; {machine.get('openssl')}")
    print(f"Code: commit {machine.get('commit')} with {machine.get('uncommitted_files')} uncommitted file(s); "
          f"started {machine.get('started_utc')}; load average at start {machine.get('load_start')}, at end {args.load_end}")
    if py_late is not None and py_late > 1:
        print(f"WARNING: a pyHanko process started its window {py_late:.1f} s late: the two windows overlap less")
    if py_cpu_share:
        print(f"pyHanko processes had {', '.join(f'{c:.2f}' for c in py_cpu_share)} of a core each (CPU time / wall time)"
              + ("" if min(py_cpu_share) >= 0.9 else ": WARNING, something else was running: pyHanko's figure is low"))
    print()
    headers = ["Measurement", "Figure", "Peer / floor", "Peer figure", "Ratio", "Target", "Met"]
    table = [[r["measurement"], r["figure"], r["peer"], r["peer_figure"],
              "-" if r["ratio"] is None else f"{r['ratio']:.2f}x", r["target"] or "-", verdict(r["met"], r["met_parts"])] for r in rows]
    print("| " + " | ".join(headers) + " |")
    print("|" + "|".join("---" if i == 0 else "---:" if i in (1, 3, 4) else "---" for i in range(len(headers))) + "|")
    for t in table:
        print("| " + " | ".join(t) + " |")
    print()
    print("Ratios: figure / peer figure, from this run only. pyHanko's aggregate is counted: each process signs back to "
          "back over the same window after its warm-up; seals/s = seals completed / wall time, summed over the 2 processes.")
    summary = {"machine": dict(machine, load_end=args.load_end), "rows": rows, "figures": figures,
               "steps": {n: os.path.join(args.steps, f"{n}.json") for n in
                         ("machine", "engine", "pyhanko-1", "pyhanko-2", "sign", "sign-update-only", "cycle", "large", "long")
                         if os.path.exists(os.path.join(args.steps, f"{n}.json"))}}
    with open(args.out, "w") as f:
        json.dump(summary, f, indent=1)
    targets = [r for r in rows if r["met"] is not None]
    print(f"Targets met: {sum(r['met'] for r in targets)} of {len(targets)}")


if __name__ == "__main__":
    sys.exit(main())
