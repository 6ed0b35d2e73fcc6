#!/usr/bin/env bash
# The service side by side with its peers, in one run on this machine:
#
#   benches/compare.sh [--long]
#
# Measures, on the same files and the same ECDSA P-256 seal (keys-sample/seal-approval-ec):
#   1. the engine in-process: `cargo bench --bench seal -- small_ec large_ec` (benches/seal.rs):
#      median ms per seal of corpus file 01, hence seals/s on one core; and the engine alone on
#      the 100 MB scanned file beside `openssl dgst -sha256` of it;
#   2. pyHanko in-process on both cores: two scripts/bench_pyhanko.py processes at once, small
#      ECDSA visible row only, each signing back to back for PY_SECONDS over the same window;
#      aggregate seals/s = the sum of each process's counted seals / its wall time;
#   3. the service end to end (release build, `eseal serve` in a fresh temporary directory, its
#      development setup over keys-sample/, durable audit): `eseal bench` over gRPC and mTLS,
#      32 concurrent streams, `--mode sign` (SIGN_COUNT stampings; answered with the whole sealed
#      document, then again with `--update-only`) and `--mode cycle`
#      (CYCLE_COUNT grant-and-sign cycles), with the server's CPU and RSS;
#   4. the 100 MB scanned file through the service: `eseal sign` (one client) from start to the
#      complete output file, downloading the update only (its default) and the whole sealed
#      document (--whole-document), alternating, median of LARGE_RUNS each, against
#      `openssl dgst -sha256 FILE` (median
#      of OPENSSL_RUNS after one warm-up), and the server's peak RSS growth during each stamping
#      (5 written to /proc/PID/clear_refs, VmRSS before, VmHWM after);
#   5. with --long (or COMPARE_LONG=1): a LONG_DURATION (10m) `sign` run reporting the server RSS
#      at 1, 5 and 10 minutes.
# Then prints one table (benches/compare_report.py): each figure, its peer or floor from this
# run, the ratio, the target, met or not. Everything printed is saved to
# target/bench-data/compare-output.txt, the summary to target/bench-data/compare.json and each
# step's raw JSON to target/bench-data/compare/.
#
# Environment: SIGN_COUNT (5000), CYCLE_COUNT (3000), CONCURRENCY (32), PY_SECONDS (30),
# LARGE_RUNS (3), OPENSSL_RUNS (5), ENGINE_SMALL_ITERS (1001), ENGINE_LARGE_RUNS (5),
# COMPARE_LONG (0), LONG_DURATION (10m), COMPARE_LARGE (target/bench-data/scanned-100mb.pdf),
# COMPARE_PORT (50051; another port, or 50051 being taken, runs the server with a generated
# configuration equal to the development setup but for the port), ESEAL_TEST_VENV.
# Any failed step (a bench error, a failed verification, a server that dies) stops the script
# with a message and a non-zero exit code.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

long=${COMPARE_LONG:-0}
for arg in "$@"; do
  case "$arg" in
    --long) long=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "compare: unknown argument $arg (only --long)" >&2; exit 2 ;;
  esac
done

data="$root/target/bench-data"
steps="$data/compare"
venv="${ESEAL_TEST_VENV:-$root/target/test-venv}"
small="${ESEAL_CORPUS:-$root/tests/corpus}/01_debian_shared-mime-info-spec.pdf"
large="${COMPARE_LARGE:-$data/scanned-100mb.pdf}"
eseal="$root/target/release/eseal"
sign_count=${SIGN_COUNT:-5000}
cycle_count=${CYCLE_COUNT:-3000}
concurrency=${CONCURRENCY:-32}
py_seconds=${PY_SECONDS:-30}
large_runs=${LARGE_RUNS:-3}
openssl_runs=${OPENSSL_RUNS:-5}
long_duration=${LONG_DURATION:-10m}
mkdir -p "$data" "$steps"
rm -f "$steps"/*.json "$steps"/*.txt

fail() {
  echo "compare: FAILED: $*" >&2
  exit 1
}

# Everything printed from here on is also saved.
exec > >(tee "$data/compare-output.txt") 2>&1
tee_pid=$!
server_pid=""
serverdir=""
stop_server() { # the server started in step 4, if any, and its directory
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$server_pid" 2>/dev/null && kill -KILL "$server_pid" 2>/dev/null || true
  fi
  server_pid=""
  if [ -n "$serverdir" ]; then
    [ -f "$serverdir/serve.log" ] && cp "$serverdir/serve.log" "$steps/serve.log.txt" || true
    rm -rf "$serverdir"
    serverdir=""
  fi
}
on_exit() {
  stop_server
  # Let tee write the last lines before the script returns.
  exec >&- 2>&-
  wait "$tee_pid" 2>/dev/null || true
}
trap on_exit EXIT
trap 'echo "compare: FAILED (exit $?) at line $LINENO: $BASH_COMMAND" >&2' ERR

positive() { # name value: a whole number above 0
  [[ "$2" =~ ^[0-9]+$ && "$2" -gt 0 ]] || fail "$1=$2: expected a whole number above 0"
}
positive SIGN_COUNT "$sign_count"
positive CYCLE_COUNT "$cycle_count"
positive CONCURRENCY "$concurrency"
positive LARGE_RUNS "$large_runs"
positive OPENSSL_RUNS "$openssl_runs"
[[ "$py_seconds" =~ ^[0-9]+(\.[0-9]+)?$ ]] || fail "PY_SECONDS=$py_seconds: expected a number of seconds"

# ---- 1. Prerequisites -------------------------------------------------------------------------
for tool in openssl pdftoppm python3 cargo awk; do
  command -v "$tool" >/dev/null || fail "$tool is required (scripts/install-test-tools.sh installs pdftoppm)"
done
[ -f "$small" ] || fail "the corpus file $small is missing"
if ! "$venv/bin/python" -c 'import pyhanko.sign' 2>/dev/null; then
  echo "compare: no pyHanko venv at $venv; running scripts/install-test-tools.sh"
  scripts/install-test-tools.sh
fi
if [ ! -f "$large" ]; then
  echo "compare: generating $large (about 40 s)"
  python3 benches/make_large_pdf.py "$large" --min-bytes 100000000
fi
echo "== build (cargo build --release; cargo bench --no-run)"
cargo build --release
cargo bench --bench seal --no-run
[ -x "$eseal" ] || fail "$eseal was not built"

# Microseconds since the epoch, without a fork (bash 5).
now_us() { echo "${EPOCHREALTIME/./}"; }
load() { cut -d' ' -f1-3 /proc/loadavg; }
kib() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$2/status"; }

# ---- Machine ----------------------------------------------------------------------------------
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
dirty=$(git status --porcelain 2>/dev/null | wc -l)
cat >"$steps/machine.json" <<EOF
{"nproc": $(nproc), "cpu_model": $(python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$cpu_model"),
 "sha_ni": $(grep -q sha_ni /proc/cpuinfo && echo true || echo false),
 "memory_mib": $(awk '/^MemTotal/ { print int($2 / 1024) }' /proc/meminfo),
 "load_start": "$load_start", "started_utc": "$(date -u +%Y-%m-%dT%H:%M:%SZ)",
 "commit": "$commit", "uncommitted_files": $dirty,
 "rust": "$(cargo --version)", "openssl": "$(openssl version)",
 "small_file": "$small", "small_bytes": $(stat -c %s "$small"),
 "large_file": "$large", "large_bytes": $(stat -c %s "$large"),
 "concurrency": $concurrency, "sign_count": $sign_count, "cycle_count": $cycle_count, "py_seconds": $py_seconds,
 "large_runs": $large_runs, "openssl_runs": $openssl_runs, "long": $([ "$long" = 1 ] && echo "\"$long_duration\"" || echo null)}
EOF
echo "== machine: nproc $(nproc), $cpu_model; load average at start: $load_start"
echo "== commit $commit with $dirty uncommitted file(s) in the working tree"

# ---- 2. Engine in-process ---------------------------------------------------------------------
echo
echo "== engine in-process (cargo bench --bench seal -- small_ec large_ec; large: $large; load average $(load))"
cat "$large" >/dev/null
ESEAL_BENCH_JSON="$steps/engine.json" ESEAL_BENCH_LARGE="$large" \
  ESEAL_BENCH_SMALL_ITERS="${ENGINE_SMALL_ITERS:-1001}" ESEAL_BENCH_LARGE_RUNS="${ENGINE_LARGE_RUNS:-5}" \
  cargo bench -q --bench seal -- small_ec large_ec || fail "cargo bench --bench seal"
[ -s "$steps/engine.json" ] || fail "the engine bench wrote no $steps/engine.json"

# ---- 3. pyHanko in-process, both cores --------------------------------------------------------
echo
echo "== pyHanko in-process, 2 processes in parallel, small ECDSA visible, ${py_seconds} s counted window each (load average $(load))"
start_at=$(python3 -c 'import time; print(f"{time.time() + 20:.3f}")')
py_pids=()
for n in 1 2; do
  "$venv/bin/python" scripts/bench_pyhanko.py --only small_ec --duration "$py_seconds" --start-at "$start_at" \
    --json "$steps/pyhanko-$n.json" &
  py_pids+=("$!")
done
for p in "${py_pids[@]}"; do
  wait "$p" || fail "a pyHanko process (pid $p) failed"
done

# ---- 4. The service ---------------------------------------------------------------------------
port=${COMPARE_PORT:-50051}
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
if [ -z "${COMPARE_PORT:-}" ] && port_taken "$port"; then
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  echo "compare: 127.0.0.1:50051 is taken (another server?); using port $port"
fi
port_taken "$port" && fail "127.0.0.1:$port is already taken"
serverdir=$(mktemp -d /tmp/eseal-compare.XXXXXX)
serve_args=()
if [ "$port" != 50051 ]; then
  # The development setup (crates/eseal-service/src/config.rs, Config::development) on another port.
  ks="$root/keys-sample"
  cat >"$serverdir/eseal.toml" <<EOF
[server]
listen = "127.0.0.1:$port"
tls_certificate = "$ks/server.pem"
tls_key = "$ks/server.key"
client_ca = "$ks/tls-ca.pem"
[store]
sqlite_path = "eseal-data/eseal.db"
[keys]
directory = "$ks"
[audit]
log_key = "$ks/audit-log.pk8"
[verification]
trust_anchors = ["$ks/root-ca.pem"]
[[principals]]
name = "approval-system"
san_uri = "spiffe://eseal.example/department/approval-system"
department = ["*"]
[[principals]]
name = "custodian-wang"
san_uri = "spiffe://eseal.example/custodian/wang"
custodian = ["*"]
[[principals]]
name = "seal-admin-li"
san_uri = "spiffe://eseal.example/seal-admin/li"
seal_admin = true
[[principals]]
name = "archivist-zhao"
san_uri = "spiffe://eseal.example/archivist/zhao"
archivist = true
[[seed_seals]]
id = "approval-ec"
name = "示例市行政审批局行政审批专用章"
organization = "示例市行政审批局"
kind = "行政审批专用章"
image = "$ks/seal-approval-ec.png"
certificate_chain = "$ks/seal-approval-ec-chain.pem"
key_reference = "seal-approval-ec.pk8"
custodians = ["custodian-wang"]
[[seed_seals]]
id = "housing-rsa"
name = "示例市住房和城乡建设局业务专用章"
organization = "示例市住房和城乡建设局"
kind = "业务专用章"
image = "$ks/seal-housing-rsa.png"
certificate_chain = "$ks/seal-housing-rsa-chain.pem"
key_reference = "seal-housing-rsa.pk8"
custodians = ["custodian-wang"]
EOF
  serve_args=(--config "$serverdir/eseal.toml")
fi
export ESEAL_SERVER="https://localhost:$port"
echo
echo "== service: $eseal serve ${serve_args[*]} in $serverdir (release build, durable audit; load average $(load))"
# exec: $! is the server itself, whose /proc entries are read below.
(cd "$serverdir" && exec "$eseal" serve "${serve_args[@]}" >"$serverdir/serve.log" 2>&1) &
server_pid=$!
for _ in $(seq 150); do
  grep -q "eseal is listening on" "$serverdir/serve.log" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$serverdir/serve.log"; fail "the server stopped at start"; }
  sleep 0.2
done
grep -q "eseal is listening on" "$serverdir/serve.log" || { cat "$serverdir/serve.log"; fail "the server does not listen after 30 s"; }
grep "eseal is listening on" "$serverdir/serve.log"
echo "server pid $server_pid, RSS $(kib VmRSS "$server_pid") KiB"

server_alive() { kill -0 "$server_pid" 2>/dev/null || { tail -20 "$serverdir/serve.log"; fail "the server died ($1)"; }; }

run_bench() { # name, then eseal bench options
  local name=$1
  shift
  echo
  echo "== service end to end: eseal bench $* (server pid $server_pid; load average $(load))"
  local rc=0
  "$eseal" bench --document "$small" --seal approval-ec --rect 20,20,40,40 --concurrency "$concurrency" \
    --server-pid "$server_pid" --json "$@" >"$steps/$name.json" || rc=$?
  python3 - "$steps/$name.json" <<'PY' || true
import json, sys
try:
    r = json.load(open(sys.argv[1]))
except ValueError:
    sys.exit("  (no JSON report: see the error above)")
l, c, rss = r["latency_ms"], r.get("cycle_latency_ms"), r.get("server_rss_mib") or {}
d = lambda v: "-" if v is None else v
print(f"{r['mode']}: {r['completed']} completed in {r['window_seconds']:.2f} s = {r['throughput']:.1f}/s; "
      f"SignDocument p50 {l['p50']:.1f} ms, p99 {l['p99']:.1f} ms, max {l['max']:.1f} ms"
      + (f"; cycle p50 {c['p50']:.1f} ms, p99 {c['p99']:.1f} ms" if c else ""))
cpu = r.get("server_cpu_seconds_per_stamping")
print(f"  errors {r['errors']} {r['errors_by_code']} grants {r['grant_errors_by_code']}; verified {r['verified']}, failures {r['verify_failures']}; "
      f"server CPU {cpu * 1000 if cpu is not None else float('nan'):.2f} ms per stamping; server RSS MiB start {d(rss.get('start'))}, "
      f"1 min {d(rss.get('at_1min'))}, 5 min {d(rss.get('at_5min'))}, 10 min {d(rss.get('at_10min'))}, end {d(rss.get('end'))}, max {d(rss.get('max'))}")
for e in r["first_errors"] + r["verify_problems"]:
    print("  " + e)
PY
  [ "$rc" = 0 ] || fail "eseal bench $name exited with $rc (a usage error, a failed connection, errors or failed verifications: see above and $steps/$name.json)"
  server_alive "after the $name run"
}

run_bench sign --mode sign --count "$sign_count"
run_bench sign-update-only --mode sign --count "$sign_count" --update-only
run_bench cycle --mode cycle --count "$cycle_count"

# ---- 5. The 100 MB scanned file: the service against openssl ----------------------------------
echo
echo "== large file: $large ($(stat -c %s "$large") bytes; load average $(load))"
cat "$large" >/dev/null
openssl dgst -sha256 "$large" >/dev/null
openssl_us=()
for _ in $(seq "$openssl_runs"); do
  t0=$(now_us)
  openssl dgst -sha256 "$large" >/dev/null
  openssl_us+=($(( $(now_us) - t0 )))
done
echo "openssl dgst -sha256, $openssl_runs runs after one warm-up (ms): $(printf '%s\n' "${openssl_us[@]}" | awk '{ printf "%.1f ", $1 / 1000 }')"
sealed="$steps/large-sealed-service.pdf"
large_lines=()
for n in $(seq "$large_runs"); do
  # Both answer modes, alternating (which goes first too): the update only (eseal sign's
  # default), the whole sealed document.
  order="update_only sealed_document"
  [ $(( n % 2 )) = 0 ] && order="sealed_document update_only"
  for answer in $order; do
    case_number="COMPARE-LARGE-$$-$n-$answer"
    whole=()
    [ "$answer" = sealed_document ] && whole=(--whole-document)
    auth=$("$eseal" grant --seal approval-ec --to approval-system --case "$case_number") || fail "eseal grant for the large file"
    rm -f "$sealed"
    server_alive "before the large stamping"
    echo 5 >"/proc/$server_pid/clear_refs" || fail "cannot reset the server's peak RSS (/proc/$server_pid/clear_refs)"
    rss_before=$(kib VmRSS "$server_pid")
    t0=$(now_us)
    "$eseal" sign "$large" --seal approval-ec --authorization "$auth" --case "$case_number" --rect 20,20,40,40 "${whole[@]}" -o "$sealed" \
      || fail "eseal sign of the large file ($answer)"
    elapsed=$(( $(now_us) - t0 ))
    hwm_after=$(kib VmHWM "$server_pid")
    [ -s "$sealed" ] || fail "eseal sign wrote no $sealed"
    cmp -n "$(stat -c %s "$large")" "$large" "$sealed" || fail "the sealed large file does not begin with the original bytes ($answer)"
    large_lines+=("{\"answer\": \"$answer\", \"us\": $elapsed, \"rss_before_kib\": $rss_before, \"hwm_after_kib\": $hwm_after, \"growth_kib\": $(( hwm_after - rss_before )), \"output_bytes\": $(stat -c %s "$sealed")}")
    echo "  run $n, $answer: $(awk -v u="$elapsed" 'BEGIN { printf "%.1f", u / 1000 }') ms; server VmRSS before $rss_before KiB, VmHWM after $hwm_after KiB: growth $(( (hwm_after - rss_before) / 1024 )) MiB"
  done
done
"$eseal" verify "$sealed" >/dev/null || fail "the large file sealed by the service does not verify"
echo "  the last sealed file verifies (eseal verify: all signatures valid)"
python3 - "$steps/large.json" "$large" "$(IFS=,; echo "${openssl_us[*]}")" "${large_lines[@]}" <<'PY'
import json, os, sys
out, path, openssl = sys.argv[1], sys.argv[2], [int(v) for v in sys.argv[3].split(",")]
runs = [json.loads(a) for a in sys.argv[4:]]
json.dump({"file": path, "bytes": os.path.getsize(path), "openssl_us": openssl, "service_runs": runs}, open(out, "w"), indent=1)
PY
rm -f "$sealed"

# ---- 6. Optional: memory under sustained load ---------------------------------------------------
if [ "$long" = 1 ]; then
  run_bench long --mode sign --duration "$long_duration"
fi

server_alive "at the end"
echo
# The log's levels are between ANSI colour codes.
log_problems() { sed 's/\x1b\[[0-9;]*m//g' "$serverdir/serve.log" | grep -E '^[^ ]+ +(ERROR|WARN) '; }
echo "== server log: $(wc -l <"$serverdir/serve.log") lines, $(log_problems | wc -l) warnings or errors"
log_problems | head -5 || true
stop_server

# ---- 7. The table -----------------------------------------------------------------------------
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
echo
echo "== results ($(date -u +%Y-%m-%dT%H:%MZ); load average at start $load_start, at end $load_end)"
python3 benches/compare_report.py "$steps" "$data/compare.json" --load-end "$load_end"
echo
echo "compare: saved $data/compare-output.txt and $data/compare.json (each step's JSON in $steps/)"
