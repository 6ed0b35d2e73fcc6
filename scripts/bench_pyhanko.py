#!/usr/bin/env python3
"""pyHanko side of the sealing benchmark: the same seals as benches/seal.rs, signed by pyHanko.

Run with the test venv's interpreter (scripts/bench.sh does this):

    target/test-venv/bin/python scripts/bench_pyhanko.py --json OUT.json [--large FILE]

What it measures (medians of individually timed runs, `time.perf_counter_ns`, inside one
Python process, so the interpreter start and the imports are excluded):

* small: tests/corpus/01_debian_shared-mime-info-spec.pdf, held in memory as bytes, signed
  to a fresh `BytesIO` (the complete output). Timed: `IncrementalPdfFileWriter(BytesIO(data))`
  (pyHanko's parse of the input, as `Document::open` is in ours) and `PdfSigner.sign_pdf`.
  Rows: ECDSA P-256 with a visible field on the last page (30 mm square, 10 mm from the
  bottom-right corner, like ours) whose appearance is the seal PNG (`StaticStampStyle` with a
  `PdfImage` created once, outside the loop); the same with an invisible field (no appearance
  at all: a lower bound of pyHanko's cost); RSA-3072 with the visible field.
  PAdES subfilter (ETSI.CAdES.detached), SHA-256, no timestamp, no revocation info; the
  /Contents size is left to pyHanko's own estimate (its default).
* large: the same visible ECDSA seal on the large file, from an open input file to a newly
  created output file (opening both is timed; removing the previous output is not).
* counted throughput (--duration N, used by benches/compare.sh): instead of --iterations timed
  signings, each small row signs back to back for N seconds after its warm-up and reports the
  number of seals completed divided by the wall time from the window's start to the last
  completion (`seals_per_s`), beside the usual medians. --start-at T starts that window at the
  Unix time T, after the warm-up, so that several processes run in parallel measure the same
  window (their `seals_per_s` add up to the machine's aggregate); `late_s` says how late a
  process was ready.
* memory: in a child process (this script with --memory-child), after loading key, chain and
  stamp style, the peak RSS is reset (`5` written to /proc/self/clear_refs) and VmRSS read from
  /proc/self/status; after signing the large file, VmHWM is read: growth = VmHWM - VmRSS before,
  measured as in benches/seal.rs.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from io import BytesIO

from pyhanko.version import __version__ as pyhanko_version
from pyhanko.pdf_utils import layout
from pyhanko.pdf_utils.images import PdfImage
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.stamp import StaticStampStyle

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEYS = os.path.join(ROOT, "keys-sample")
SMALL = os.path.join(os.environ.get("ESEAL_CORPUS") or os.path.join(ROOT, "tests", "corpus"), "01_debian_shared-mime-info-spec.pdf")
MM = 72 / 25.4
# The rows, in the order they run (--only selects some).
ROWS = ["small_ec", "small_ec_invisible", "small_rsa", "large_ec", "memory_large_ec"]


def load_signer(name: str):
    """The keys-sample seal `name`: key, end-entity certificate and the issuing CA."""
    return signers.SimpleSigner.load(
        os.path.join(KEYS, f"{name}.key"),
        os.path.join(KEYS, f"{name}.pem"),
        ca_chain_files=(os.path.join(KEYS, "seal-ca.pem"),),
    )


def last_page_box(stream) -> tuple:
    """The 30 mm seal box, 10 mm from the bottom-right corner of the last page's MediaBox."""
    page_ref, _ = PdfFileReader(stream).find_page_for_modification(-1)
    llx, lly, urx, ury = (float(v) for v in page_ref.get_object()["/MediaBox"])
    x2, y1 = urx - 10 * MM, lly + 10 * MM
    return (x2 - 30 * MM, y1, x2, y1 + 30 * MM)


def make_pdf_signer(name: str, box) -> signers.PdfSigner:
    """A PdfSigner for one seal; `box` None makes an invisible field."""
    meta = signers.PdfSignatureMetadata(
        field_name="Seal1",
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason="审批通过",
        location="示例市",
    )
    style = None
    if box is not None:
        style = StaticStampStyle(
            background=PdfImage(os.path.join(KEYS, f"{name}.png")),
            background_opacity=1.0,
            border_width=0,
            background_layout=layout.SimpleBoxLayoutRule(
                x_align=layout.AxisAlignment.ALIGN_MID,
                y_align=layout.AxisAlignment.ALIGN_MID,
                margins=layout.Margins.uniform(0),
            ),
        )
    spec = fields.SigFieldSpec(sig_field_name="Seal1", on_page=-1, box=box)
    return signers.PdfSigner(meta, load_signer(name), stamp_style=style, new_field_spec=spec)


def stats(samples_ns) -> dict:
    s = sorted(samples_ns)
    at = lambda q: s[round((len(s) - 1) * q)]
    return {"n": len(s), "median_ns": int(statistics.median(s)), "min_ns": s[0], "p10_ns": at(0.1), "p90_ns": at(0.9)}


def line(st: dict) -> str:
    ms = lambda ns: f"{ns / 1e6:.3f} ms"
    return f"median {ms(st['median_ns'])}  (min {ms(st['min_ns'])}, p10 {ms(st['p10_ns'])}, p90 {ms(st['p90_ns'])}, n={st['n']})"


def bench_small(label: str, pdf_signer, data: bytes, iterations: int) -> dict:
    def once() -> int:
        out = BytesIO()
        pdf_signer.sign_pdf(IncrementalPdfFileWriter(BytesIO(data)), output=out)
        return len(out.getbuffer())

    for _ in range(max(5, iterations // 10)):
        out_len = once()
    samples = []
    for _ in range(iterations):
        t = time.perf_counter_ns()
        out_len = once()
        samples.append(time.perf_counter_ns() - t)
    st = stats(samples)
    print(f"pyHanko small, {label} ({len(data)} -> {out_len} bytes): {line(st)}", flush=True)
    return {"label": label, "input_bytes": len(data), "output_bytes": out_len, "stats": st}


def bench_small_counted(label: str, pdf_signer, data: bytes, seconds: float, start_at) -> dict:
    """Signs back to back for `seconds` (from `start_at`, a Unix time, when given) and counts."""
    def once() -> int:
        out = BytesIO()
        pdf_signer.sign_pdf(IncrementalPdfFileWriter(BytesIO(data)), output=out)
        return len(out.getbuffer())

    for _ in range(10):
        out_len = once()
    late = 0.0
    if start_at is not None:
        wait = start_at - time.time()
        if wait > 0:
            time.sleep(wait)
        late = max(0.0, time.time() - start_at)
    cpu0 = time.process_time()
    t0 = time.perf_counter_ns()
    end = t0 + int(seconds * 1e9)
    samples = []
    while True:
        t = time.perf_counter_ns()
        out_len = once()
        done = time.perf_counter_ns()
        samples.append(done - t)
        if done >= end:
            break
    wall = (done - t0) / 1e9
    cpu = time.process_time() - cpu0
    st = stats(samples)
    rate = len(samples) / wall
    print(f"pyHanko small, {label} ({len(data)} -> {out_len} bytes), pid {os.getpid()}: {len(samples)} seals in "
          f"{wall:.2f} s = {rate:.2f} seals/s (CPU {cpu:.2f} s; late {late:.2f} s); {line(st)}", flush=True)
    return {"label": label, "input_bytes": len(data), "output_bytes": out_len, "stats": st, "count": len(samples),
            "wall_s": wall, "cpu_s": cpu, "seals_per_s": rate, "start_at": start_at, "late_s": late, "pid": os.getpid()}


def sign_file(pdf_signer, path: str, out_path: str) -> None:
    with open(path, "rb") as inp, open(out_path, "wb") as out:
        pdf_signer.sign_pdf(IncrementalPdfFileWriter(inp), output=out)


def bench_large(pdf_signer, path: str, runs: int) -> dict:
    out_path = os.path.join(os.path.dirname(path), "large-sealed-pyhanko.pdf")
    with open(path, "rb") as f:  # warm the page cache
        while f.read(1 << 20):
            pass
    sign_file(pdf_signer, path, out_path)  # warm-up
    samples = []
    for _ in range(runs):
        os.remove(out_path)
        t = time.perf_counter_ns()
        sign_file(pdf_signer, path, out_path)
        samples.append(time.perf_counter_ns() - t)
    st = stats(samples)
    print(f"pyHanko large ({os.path.getsize(path)} bytes), visible ECDSA: {line(st)}", flush=True)
    return {"input_bytes": os.path.getsize(path), "output_bytes": os.path.getsize(out_path), "output_file": out_path, "stats": st}


def memory_kib() -> tuple:
    fields_ = {}
    with open("/proc/self/status") as f:
        for l in f:
            k, _, v = l.partition(":")
            fields_[k] = v
    return tuple(int(fields_[k].split()[0]) for k in ("VmHWM", "VmRSS"))


def memory_child(path: str, out_path: str) -> None:
    with open(path, "rb") as f:
        box = last_page_box(f)
    pdf_signer = make_pdf_signer("seal-approval-ec", box)
    # Reset the peak to the current RSS (as benches/seal.rs does).
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        reset = True
    except OSError:
        reset = False
    hwm_before, rss_before = memory_kib()
    sign_file(pdf_signer, path, out_path)
    hwm_after, rss_after = memory_kib()
    print(json.dumps({
        "output_bytes": os.path.getsize(out_path), "hwm_reset": reset,
        "vmhwm_before_kib": hwm_before, "vmrss_before_kib": rss_before,
        "vmhwm_after_kib": hwm_after, "vmrss_after_kib": rss_after,
        "growth_kib": max(0, hwm_after - rss_before),
    }))


def bench_memory(path: str) -> dict:
    out_path = os.path.join(os.path.dirname(path), "large-sealed-pyhanko-memory.pdf")
    r = subprocess.run([sys.executable, os.path.abspath(__file__), "--memory-child", path, out_path],
                       check=True, capture_output=True, text=True)
    os.remove(out_path)
    v = json.loads(r.stdout)
    print(f"pyHanko memory, large signing in a child process: RSS {v['vmrss_before_kib']} KiB before, "
          f"peak {v['vmhwm_after_kib']} KiB during: growth {v['growth_kib'] / 1024:.1f} MiB", flush=True)
    return v


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--json", help="write the results there")
    ap.add_argument("--large", help="the large file (skipped when not given)")
    ap.add_argument("--iterations", type=int, default=201, help="timed signings per small-file row")
    ap.add_argument("--large-runs", type=int, default=5, help="timed signings of the large file")
    ap.add_argument("--only", help="comma-separated rows to run: " + ", ".join(ROWS) + " (default: all; the large rows need --large)")
    ap.add_argument("--duration", type=float, help="small rows: sign back to back for this many seconds after the warm-up "
                    "instead of --iterations, and report the counted seals per second")
    ap.add_argument("--start-at", type=float, help="with --duration: the Unix time at which the counted window starts "
                    "(after the warm-up), so that parallel processes measure the same window")
    ap.add_argument("--memory-child", nargs=2, metavar=("IN", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.memory_child:
        memory_child(*args.memory_child)
        return
    rows = ROWS if args.only is None else [r.strip() for r in args.only.split(",") if r.strip()]
    unknown = [r for r in rows if r not in ROWS]
    if unknown or not rows:
        ap.error(f"--only {args.only!r}: rows are {', '.join(ROWS)}")
    if args.start_at is not None and args.duration is None:
        ap.error("--start-at needs --duration")

    data = open(SMALL, "rb").read()
    box = last_page_box(BytesIO(data))
    results = {"pyhanko_version": pyhanko_version}

    def small(row: str, label: str, pdf_signer):
        if args.duration is not None:
            results[row] = bench_small_counted(label, pdf_signer, data, args.duration, args.start_at)
        else:
            results[row] = bench_small(label, pdf_signer, data, args.iterations)

    if "small_ec" in rows:
        small("small_ec", "ECDSA P-256, visible", make_pdf_signer("seal-approval-ec", box))
    if "small_ec_invisible" in rows:
        small("small_ec_invisible", "ECDSA P-256, invisible", make_pdf_signer("seal-approval-ec", None))
    if "small_rsa" in rows:
        small("small_rsa", "RSA-3072, visible", make_pdf_signer("seal-housing-rsa", box))
    if args.large and ("large_ec" in rows or "memory_large_ec" in rows):
        with open(args.large, "rb") as f:
            large_box = last_page_box(f)
        if "large_ec" in rows:
            results["large_ec"] = bench_large(make_pdf_signer("seal-approval-ec", large_box), args.large, args.large_runs)
        if "memory_large_ec" in rows:
            results["memory_large_ec"] = bench_memory(args.large)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
