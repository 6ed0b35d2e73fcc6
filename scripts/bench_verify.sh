#!/usr/bin/env bash
# Bulk verification benchmark: `eseal verify --offline` against pyHanko's validator on the same
# sealed documents, in one run, on the same cores; see BENCHMARKS.md.
#
#   scripts/bench_verify.sh
#
# 1. builds the release binary;
# 2. when target/bench-data/verify/docs holds fewer than VERIFY_DOCS (1000) documents, makes
#    them with a real service: `eseal serve` (the sample keys, a fresh SQLite store in a
#    temporary directory), then `eseal bench --save-to`, which grants one authorization per
#    stamping as the custodian and stamps as the department: 60% corpus 01 with the EC seal,
#    the rest an even mix of corpus 04 (linearized), 08 (hybrid cross-reference), 10 (a form),
#    13 (CJK text) sealed with the RSA seal;
# 3. times `eseal verify --offline --jobs JOBS` over every document (one process, JOBS threads;
#    the process start is timed too);
# 4. runs scripts/bench_verify_pyhanko.py on the same files (JOBS worker processes; the
#    interpreter start and imports not timed);
# 5. prints both and the ratio. Both must pass every signature, or the run fails.
# JOBS defaults to the number of cores. Output is saved to target/bench-data/verify/output.txt.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
data="$root/target/bench-data/verify"
docs="$data/docs"
venv="${ESEAL_TEST_VENV:-$root/target/test-venv}"
count=${VERIFY_DOCS:-1000}
jobs=${JOBS:-$(nproc)}
eseal="$root/target/release/eseal"
trust="$root/keys-sample/root-ca.pem"
mkdir -p "$docs"

fail() {
  echo "bench_verify: FAILED: $*" >&2
  exit 1
}
if ! "$venv/bin/python" -c 'import pyhanko.sign' 2>/dev/null; then
  echo "bench_verify: no pyHanko venv at $venv; running scripts/install-test-tools.sh"
  scripts/install-test-tools.sh
fi
cargo build --release --locked

server_pid=""
serverdir=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  [ -n "$serverdir" ] && [ -z "${KEEP:-}" ] && rm -rf "$serverdir"
  return 0
}
trap cleanup EXIT

make_documents() {
  rm -f "$docs"/*.pdf
  serverdir=$(mktemp -d)
  local port
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  # The development setup (crates/eseal-service/src/config.rs, Config::development: the sample keys and seals) on a
  # free port and a fresh store, through its ESEAL__ overrides.
  ESEAL__SERVER__LISTEN="127.0.0.1:$port" ESEAL__STORE__SQLITE_PATH="$serverdir/eseal.db" \
    "$eseal" serve >"$serverdir/serve.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 150); do
    grep -q "eseal is listening on" "$serverdir/serve.log" && break
    kill -0 "$server_pid" 2>/dev/null || { cat "$serverdir/serve.log"; fail "the server stopped at start"; }
    sleep 0.2
  done
  grep -q "eseal is listening on" "$serverdir/serve.log" || fail "the server does not listen after 30 s"
  export ESEAL_SERVER="https://localhost:$port"
  local first=$((count * 6 / 10))
  local each=$(((count - first) / 4))
  first=$((count - 4 * each))
  echo "== making $count sealed documents in $docs (eseal bench --save-to, server on port $port)"
  "$eseal" bench --document tests/corpus/01_debian_shared-mime-info-spec.pdf --seal approval-ec --count "$first" \
    --concurrency 4 --rect 10,10,30,30 --verify-every 0 --save-to "$docs" --json >"$serverdir/bench.json" || { cat "$serverdir/bench.json"; fail "eseal bench"; }
  for file in 04_debian_texlive_amsclass_linearized 08_pyhanko_hybrid_xref 10_pypdf_libreoffice_form_acroform 13_libreoffice_cjk_notice; do
    "$eseal" bench --document "tests/corpus/$file.pdf" --seal housing-rsa --count "$each" \
      --concurrency 4 --rect 10,10,30,30 --verify-every 0 --save-to "$docs" --json >"$serverdir/bench.json" || { cat "$serverdir/bench.json"; fail "eseal bench"; }
  done
  cleanup
  server_pid=""
  serverdir=""
}

have=$(find "$docs" -name '*.pdf' | wc -l)
[ "$have" -ge "$count" ] || make_documents
mapfile -t files < <(find "$docs" -name '*.pdf' | sort | head -n "$count")
[ "${#files[@]}" -eq "$count" ] || fail "expected $count documents in $docs, found ${#files[@]}"

{
  echo "== $(date -u +%Y-%m-%dT%H:%MZ), commit $(git rev-parse --short HEAD), $count documents ($(du -sh "$docs" | cut -f1)), $jobs jobs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
  cat "${files[@]}" >/dev/null # both validators find the files in the page cache
  echo "== eseal verify --offline --trust keys-sample/root-ca.pem --jobs $jobs --quiet <files>"
  start=$(date +%s.%N)
  "$eseal" verify --offline --trust "$trust" --jobs "$jobs" --quiet "${files[@]}" || fail "eseal verify did not pass every document"
  end=$(date +%s.%N)
  eseal_s=$(python3 -c "print(round($end - $start, 3))")
  echo "{\"validator\": \"eseal\", \"files\": $count, \"seconds\": $eseal_s, \"files_per_s\": $(python3 -c "print(round($count / ($end - $start), 2))")}"
  echo "== pyHanko: scripts/bench_verify_pyhanko.py --trust keys-sample/root-ca.pem --jobs $jobs <files>"
  py=$("$venv/bin/python" scripts/bench_verify_pyhanko.py --trust "$trust" --jobs "$jobs" "${files[@]}")
  echo "$py"
  python3 - "$count" "$eseal_s" "$py" <<'EOF'
import json, sys
count, eseal_s, py = int(sys.argv[1]), float(sys.argv[2]), json.loads(sys.argv[3])
if py["error_count"] or py["signatures_passed"] != py["signatures"] or py["signatures"] < count:
    sys.exit(f"bench_verify: FAILED: pyHanko did not pass every signature: {py}")
eseal_rate, py_rate = count / eseal_s, py["files_per_s"]
print(f"== eseal {eseal_rate:.1f} documents/s, pyHanko {py_rate:.2f} documents/s: eseal x{eseal_rate / py_rate:.0f}")
EOF
} 2>&1 | tee "$data/output.txt"
