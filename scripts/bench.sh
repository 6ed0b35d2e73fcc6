#!/usr/bin/env bash
# Sealing benchmark, eseal side by side with pyHanko, in one run; see BENCHMARKS.md.
#
#   scripts/bench.sh
#
# 1. checks the tools: openssl, pdftoppm, and the pyHanko venv target/test-venv (created by
#    scripts/install-test-tools.sh when missing);
# 2. generates the large scanned document target/bench-data/large-scanned.pdf when missing
#    (benches/make_large_pdf.py; ~68 MB, never committed);
# 3. builds the benchmark (cargo bench --no-run), then runs it: benches/seal.rs measures eseal
#    and `openssl dgst -sha256` (ESEAL_BENCH_SMALL_ITERS, ESEAL_BENCH_LARGE_RUNS);
# 4. runs scripts/bench_pyhanko.py, the same seals signed by pyHanko in-process
#    (ESEAL_BENCH_PY_ITERS, ESEAL_BENCH_PY_LARGE_RUNS);
# 5. prints one table (benches/report.py) built only from what steps 3 and 4 measured.
# Everything printed is also saved to target/bench-data/bench-output.txt.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
data="$root/target/bench-data"
venv="${ESEAL_TEST_VENV:-$root/target/test-venv}"
large="$data/large-scanned.pdf"
mkdir -p "$data"

for tool in openssl pdftoppm python3 cargo; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is required (scripts/install-test-tools.sh installs pdftoppm)" >&2; exit 1; }
done
if ! "$venv/bin/python" -c 'import pyhanko.sign' 2>/dev/null; then
  echo "bench: no pyHanko venv at $venv; running scripts/install-test-tools.sh"
  scripts/install-test-tools.sh
fi
if [ ! -f "$large" ]; then
  echo "bench: generating $large"
  python3 benches/make_large_pdf.py "$large"
fi

cargo bench --bench seal --no-run

{
  echo "== load average at start: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews the figures)"
  echo "== eseal (cargo bench --bench seal)"
  # Read the large file once so that every timed run finds it in the page cache.
  cat "$large" >/dev/null
  ESEAL_BENCH_JSON="$data/eseal.json" ESEAL_BENCH_LARGE="$large" cargo bench -q --bench seal
  echo
  echo "== pyHanko (scripts/bench_pyhanko.py)"
  "$venv/bin/python" scripts/bench_pyhanko.py --json "$data/pyhanko.json" --large "$large" \
    --iterations "${ESEAL_BENCH_PY_ITERS:-201}" --large-runs "${ESEAL_BENCH_PY_LARGE_RUNS:-5}"
  echo
  echo "== results ($(date -u +%Y-%m-%dT%H:%MZ), large file: $(stat -c %s "$large") bytes, load average at end: $(cut -d' ' -f1-3 /proc/loadavg))"
  python3 benches/report.py "$data/eseal.json" "$data/pyhanko.json"
} 2>&1 | tee "$data/bench-output.txt"
