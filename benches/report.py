#!/usr/bin/env python3
"""Prints the side-by-side table of one benchmark run (called by scripts/bench.sh).

Run: python3 benches/report.py ESEAL.json PYHANKO.json
where ESEAL.json is written by `cargo bench --bench seal` (ESEAL_BENCH_JSON) and PYHANKO.json
by scripts/bench_pyhanko.py (--json), both in the same scripts/bench.sh run. Nothing here is a
measurement: every number comes from those two files, plus the machine description read from
/proc/cpuinfo and nproc. Output: a Markdown table (pasted into BENCHMARKS.md) and one line per
target saying whether it is met.
"""

import json
import os
import re
import sys


def machine() -> str:
    info = open("/proc/cpuinfo").read()
    model = re.search(r"^model name\s*:\s*(.*)$", info, re.M)
    sha = "yes" if re.search(r"\bsha_ni\b", info) else "no"
    return f"nproc {len(os.sched_getaffinity(0))}, {model.group(1) if model else 'unknown CPU'}, SHA extensions (sha_ni): {sha}"


def ms(ns) -> str:
    return f"{ns / 1e6:.3f} ms"


def mib(kib) -> str:
    return f"{kib / 1024:.1f} MiB"


def main():
    ours = json.load(open(sys.argv[1]))
    peer = json.load(open(sys.argv[2]))
    rows = []  # (what, eseal, peer name, peer value, peer/eseal, target verdict)
    targets = []

    def med(d, key="stats"):
        return d[key]["median_ns"]

    small_ec = med(ours["small_ec"])
    ok = small_ec < 1_000_000
    targets.append(f"small file, ECDSA P-256, median < 1 ms: {ms(small_ec)}: {'MET' if ok else 'MISSED'}")
    rows.append(("Small file (140 KB, 17 pages), ECDSA P-256, visible seal, to memory",
                 ms(small_ec), "pyHanko, visible (PNG)", ms(med(peer["small_ec"])),
                 f"{med(peer['small_ec']) / small_ec:.1f}x", f"< 1 ms: {'met' if ok else 'MISSED'}"))
    rows.append(("Same, pyHanko with an invisible field (eseal still visible)",
                 ms(small_ec), "pyHanko, invisible", ms(med(peer["small_ec_invisible"])),
                 f"{med(peer['small_ec_invisible']) / small_ec:.1f}x", ""))
    small_rsa = med(ours["small_rsa"])
    rows.append(("Small file, RSA-3072, visible seal, to memory (pyHanko re-parses the key per signature: see BENCHMARKS.md)",
                 ms(small_rsa), "pyHanko, visible (PNG)", ms(med(peer["small_rsa"])),
                 f"{med(peer['small_rsa']) / small_rsa:.1f}x", ""))

    if "large_ec" in ours and "large_ec" in peer:
        large = ours["large_ec"]
        size = f"{large['input_bytes'] / 1e6:.1f} MB"
        seal = large["seal_to_file"]["median_ns"]
        openssl = large["openssl_dgst"]["median_ns"]
        rows.append((f"Large scanned file ({size}), ECDSA P-256, visible, file to new file",
                     ms(seal), "pyHanko, visible (PNG)", ms(med(peer["large_ec"])),
                     f"{med(peer['large_ec']) / seal:.1f}x", ""))
        ratio = seal / openssl
        ok = ratio <= 2.0
        targets.append(f"large file, eseal <= 2x `openssl dgst -sha256`: {ratio:.2f}x: {'MET' if ok else 'MISSED'}")
        rows.append((f"Large file: eseal seal vs hashing floor",
                     ms(seal), "`openssl dgst -sha256 FILE`", ms(openssl),
                     f"{openssl / seal:.2f}x", f"eseal/openssl = {ratio:.2f} <= 2: {'met' if ok else 'MISSED'}"))
        m, pm = ours["memory_large_ec"], peer["memory_large_ec"]
        ok = m["growth_kib"] < 32 * 1024
        targets.append(f"large file, peak memory growth < 32 MiB: {mib(m['growth_kib'])}: {'MET' if ok else 'MISSED'}")
        rows.append(("Large file: peak RSS growth during one seal",
                     mib(m["growth_kib"]), "pyHanko", mib(pm["growth_kib"]),
                     f"{pm['growth_kib'] / max(m['growth_kib'], 1):.0f}x", f"< 32 MiB: {'met' if ok else 'MISSED'}"))
        rows.append(("Large file: peak RSS of the whole process",
                     mib(m["vmhwm_after_kib"]), "pyHanko", mib(pm["vmhwm_after_kib"]),
                     f"{pm['vmhwm_after_kib'] / max(m['vmhwm_after_kib'], 1):.0f}x", ""))
    else:
        targets.append("large file: not measured (file missing)")

    print(f"Machine: {machine()}")
    print(f"pyHanko {peer.get('pyhanko_version', '?')}; medians; ratio = peer / eseal (above 1: eseal is faster or smaller)")
    print()
    header = ("Measurement", "eseal", "Peer", "Peer figure", "Ratio", "Target")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(["---", "---:", "---", "---:", "---:", "---"]) + "|")
    for r in rows:
        print("| " + " | ".join(r) + " |")
    print()
    for t in targets:
        print(f"Target: {t}")


if __name__ == "__main__":
    main()
