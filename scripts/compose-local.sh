#!/usr/bin/env bash
# The processes of deploy/docker-compose.yml, run directly on loopback (no Docker engine here):
# a private PostgreSQL, and the two eseal nodes with the compose file's configuration
# (deploy/eseal.toml), mounts (copied into a temporary root laid out as the containers see
# it) and environment (ESEAL__STORE__URL pointing at the private PostgreSQL). Envoy is not
# run; the script talks to each node directly and checks that they share one state:
#   1. both nodes report SERVING (eseal health, with the probe's certificate);
#   2. through each node: a custodian grants, the department stamps corpus file 01, the
#      archivist verifies the sealed document; and an authorization granted through one node
#      is stamped through the other;
#   3. each node's /metrics counts its stampings;
#   4. the audit log, read through either node, verifies as one contiguous log.
#
#   scripts/compose-local.sh [--eseal PATH] [--bench COUNT]
#
# --eseal: the binary (default target/release/eseal, built if absent; the test suite passes
# its debug build). --bench COUNT: after the checks, measure throughput on this PostgreSQL
# (BENCHMARKS.md): `eseal bench --mode sign` with COUNT stampings through node 1 alone, then
# COUNT through each node at once (two load generators), 32 streams each, corpus file 01.
#
# Needs the PostgreSQL server packages (scripts/install-test-tools.sh installs them) and the
# test venv's Python (for PyYAML). Exits non-zero with a message on the first failure.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

eseal="$root/target/release/eseal"
bench_count=0
while [ $# -gt 0 ]; do
  case "$1" in
    --eseal) eseal=$2; shift 2 ;;
    --bench) bench_count=$2; shift 2 ;;
    *) echo "compose-local: unknown argument $1" >&2; exit 2 ;;
  esac
done
if [ ! -x "$eseal" ]; then
  cargo build --release --locked --bin eseal
fi
eseal=$(realpath "$eseal") # the nodes run from their own folders
python="${ESEAL_TEST_VENV:-$root/target/test-venv}/bin/python"
[ -x "$python" ] || { echo "compose-local: $python missing (run scripts/install-test-tools.sh)" >&2; exit 1; }
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -n "$pg_bin" ] && [ -x "$pg_bin/initdb" ] || { echo "compose-local: PostgreSQL server binaries not found (apt install postgresql)" >&2; exit 1; }
corpus="${ESEAL_CORPUS:-$root/tests/corpus}"
document="$corpus/01_debian_shared-mime-info-spec.pdf"
[ -f "$document" ] || { echo "compose-local: $document not found (set ESEAL_CORPUS)" >&2; exit 1; }

work=$(mktemp -d /tmp/eseal-compose.XXXXXX)
chmod 755 "$work"
pids=()
pg_ctl_as() { # pg_ctl as the owner of the data folder (PostgreSQL refuses to run as root)
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$pg_bin/pg_ctl" "$@"; else "$pg_bin/pg_ctl" "$@"; fi
}
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  [ -d "$work/pg" ] && pg_ctl_as -D "$work/pg" -m immediate stop >/dev/null 2>&1 || true
  if [ "${KEEP_WORK:-0}" = 1 ]; then echo "compose-local: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
fail() {
  echo "compose-local: FAILED: $*" >&2
  for log in "$work"/node-*/serve.log; do
    [ -f "$log" ] && { echo "--- last lines of $log" >&2; tail -20 "$log" >&2; }
  done
  exit 1
}
free_port() { "$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# ---- the compose file: each node's mounts, environment and command -------------------------
"$python" - "$root/deploy/docker-compose.yml" "$work" >"$work/nodes.env" <<'PY'
import os, shlex, shutil, sys
import yaml
compose_path, work = sys.argv[1], sys.argv[2]
deploy = os.path.dirname(compose_path)
with open(compose_path) as f:
    compose = yaml.safe_load(f)  # PyYAML applies merge keys (<<: *eseal-node)
for node in ("eseal-1", "eseal-2"):
    service = compose["services"][node]
    rootfs = os.path.join(work, node, "rootfs")
    for volume in service["volumes"]:
        source, target = volume.split(":")[:2]
        destination = rootfs + target
        os.makedirs(os.path.dirname(destination), exist_ok=True)
        shutil.copy(os.path.join(deploy, source), destination)
    index = node[-1]
    print(f"node_{index}_rootfs={shlex.quote(rootfs)}")
    print(f"node_{index}_command={shlex.quote(' '.join(service['command']))}")
    env = " ".join(f"{k}={v}" for k, v in service["environment"].items())
    print(f"node_{index}_environment={shlex.quote(env)}")
PY
# shellcheck disable=SC1091
source "$work/nodes.env"

# ---- PostgreSQL (the compose file's postgres service) ----------------------------------------
pg_port=$(free_port)
mkdir -p "$work/pg" "$work/pgsock"
[ "$(id -u)" = 0 ] && chown postgres "$work/pg" "$work/pgsock"
if [ "$(id -u)" = 0 ]; then
  runuser -u postgres -- "$pg_bin/initdb" -D "$work/pg" -U eseal --auth=trust --no-sync >"$work/initdb.log" 2>&1 || fail "initdb (see $work/initdb.log)"
else
  "$pg_bin/initdb" -D "$work/pg" -U eseal --auth=trust --no-sync >"$work/initdb.log" 2>&1 || fail "initdb (see $work/initdb.log)"
fi
pg_ctl_as -D "$work/pg" -l "$work/pg/server.log" -w -o "-p $pg_port -k $work/pgsock -c listen_addresses=127.0.0.1" start >/dev/null \
  || fail "PostgreSQL did not start (see $work/pg/server.log)"
"$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U eseal eseal || fail "createdb"
echo "compose-local: PostgreSQL on 127.0.0.1:$pg_port"

# ---- the two nodes ---------------------------------------------------------------------------
ca="$root/keys-sample/tls-ca.pem"
declare -A grpc_port metrics_port
for n in 1 2; do
  rootfs_var="node_${n}_rootfs"; command_var="node_${n}_command"; env_var="node_${n}_environment"
  rootfs=${!rootfs_var}
  node_dir="$work/node-$n"
  mkdir -p "$node_dir/spool"
  # The container's paths, moved under this node's root.
  sed -e "s#\"/etc/eseal/#\"$rootfs/etc/eseal/#g" -e "s#\"/var/lib/eseal/#\"$node_dir/#g" "$rootfs/etc/eseal/eseal.toml" >"$node_dir/eseal.toml"
  # The compose environment, with the database host moved to loopback.
  environment=()
  for assignment in ${!env_var}; do
    environment+=("${assignment//@postgres:5432/@127.0.0.1:$pg_port}")
  done
  read -r -a command <<<"${!command_var}"
  for i in "${!command[@]}"; do [ "${command[$i]}" = /etc/eseal/eseal.toml ] && command[$i]="$node_dir/eseal.toml"; done
  (cd "$node_dir" && exec env "${environment[@]}" \
      ESEAL__SERVER__LISTEN="127.0.0.1:0" ESEAL__METRICS__LISTEN="127.0.0.1:0" \
      "$eseal" "${command[@]}" >"$node_dir/serve.log" 2>&1) &
  pids+=($!)
done
probe=(--cert "$root/keys-sample/client-archivist.pem" --key "$root/keys-sample/client-archivist.key" --ca "$ca")
for n in 1 2; do
  # Each node binds ports the system picks (no race for a port chosen beforehand) and says
  # which in its log: "eseal is listening on 127.0.0.1:P" and "metrics at http://127.0.0.1:M/".
  log="$work/node-$n/serve.log"
  for _ in $(seq 150); do
    kill -0 "${pids[$(( n - 1 ))]}" 2>/dev/null || fail "node $n exited"
    grpc_port[$n]=$(sed -n 's/^eseal is listening on 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$log" | head -1)
    metrics_port[$n]=$(sed -n 's#.*metrics at http://127\.0\.0\.1:\([0-9]*\)/metrics.*#\1#p' "$log" | head -1)
    [ -n "${grpc_port[$n]}" ] && [ -n "${metrics_port[$n]}" ] && break
    sleep 0.2
  done
  [ -n "${grpc_port[$n]}" ] && [ -n "${metrics_port[$n]}" ] || fail "node $n did not say where it listens"
  for _ in $(seq 150); do
    kill -0 "${pids[$(( n - 1 ))]}" 2>/dev/null || fail "node $n exited"
    "$eseal" health --server "https://localhost:${grpc_port[$n]}" "${probe[@]}" >/dev/null 2>&1 && break
    sleep 0.2
  done
  "$eseal" health --server "https://localhost:${grpc_port[$n]}" "${probe[@]}" || fail "node $n is not SERVING"
done

# ---- stampings through each node, and across them --------------------------------------------
as() { # as ROLE NODE ARGS...: an eseal client command with the keys-sample identity of ROLE
  local role=$1 n=$2; shift 2
  "$eseal" "$@" --server "https://localhost:${grpc_port[$n]}" --cert "$root/keys-sample/client-$role.pem" --key "$root/keys-sample/client-$role.key" --ca "$ca"
}
stamp() { # stamp GRANT_NODE SIGN_NODE
  local case_number="COMPOSE-$1-$2-$$" authorization out="$work/sealed-$1-$2.pdf"
  authorization=$(as custodian "$1" grant --seal approval-ec --to approval-system --case "$case_number") || fail "grant through node $1"
  as department "$2" sign "$document" --seal approval-ec --authorization "$authorization" --case "$case_number" --rect 20,20,40,40 -o "$out" \
    || fail "sign through node $2 (authorization granted through node $1)"
  as archivist "$2" verify "$out" >/dev/null || fail "the document sealed through node $2 does not verify"
  # The same authorization through the other node: already used (one seal, one authorization).
  local other=$(( 3 - $2 ))
  if as department "$other" sign "$document" --seal approval-ec --authorization "$authorization" --case "$case_number" \
      --request-id "again-$case_number" -o "$work/again.pdf" >/dev/null 2>"$work/again.err"; then
    fail "node $other stamped again with authorization $authorization, already used through node $2"
  fi
  grep -q "FAILED_PRECONDITION" "$work/again.err" || fail "node $other refused the used authorization for another reason: $(cat "$work/again.err")"
  echo "compose-local: granted through node $1, sealed and verified through node $2; node $other refused the used authorization"
}
stamp 1 1
stamp 2 2
stamp 1 2
stamp 2 1

# ---- metrics ---------------------------------------------------------------------------------
for n in 1 2; do
  metrics=$("$python" -c 'import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' \
    "http://127.0.0.1:${metrics_port[$n]}/metrics") || fail "GET /metrics of node $n"
  sealed=$(printf '%s\n' "$metrics" | awk '/^eseal_stampings_total\{/ && /outcome="sealed"/ { s += $NF } END { print s + 0 }')
  [ "$sealed" -ge 2 ] || fail "node $n's /metrics counts $sealed sealed stampings, expected at least 2"
  echo "compose-local: node $n's /metrics counts $sealed sealed stampings"
done

# ---- one audit log ---------------------------------------------------------------------------
origin=$(awk -F'"' '/^audit_origin/ { print $2 }' "$root/deploy/eseal.toml")
log_key=$("$eseal" audit log-key --name "$origin" "$root/keys-sample/audit-log.pk8")
for n in 1 2; do
  as archivist "$n" audit checkpoint --sign >/dev/null || fail "signing a checkpoint through node $n"
  as archivist "$n" audit verify --log-key "$log_key" >"$work/audit-$n.txt" || fail "the audit log read through node $n does not verify: $(cat "$work/audit-$n.txt")"
done
cmp -s <(grep -v -i "time\|checkpoint" "$work/audit-1.txt") <(grep -v -i "time\|checkpoint" "$work/audit-2.txt") \
  || echo "compose-local: note: the two nodes' verification reports differ (a checkpoint signed in between)"
echo "compose-local: the audit log verifies through both nodes: $(head -1 "$work/audit-1.txt")"
echo "compose-local: OK"

# ---- throughput: one node, then two, on the same PostgreSQL ---------------------------------
[ "$bench_count" -gt 0 ] || exit 0
bench() { # bench NODE OUTPUT
  "$eseal" bench --server "https://localhost:${grpc_port[$1]}" --document "$document" --seal approval-ec --rect 20,20,40,40 \
    --concurrency 32 --count "$bench_count" --mode sign --server-pid "${pids[$(( $1 - 1 ))]}" --json >"$2" 2>"$2.log" \
    || fail "eseal bench through node $1 (see $2.log)"
}
figure() { "$python" -c 'import json, sys; r = json.load(open(sys.argv[1])); print(round(r[sys.argv[2]], 1))' "$@"; }
echo "== one node (node 1), $bench_count stampings, 32 streams; load average $(cut -d' ' -f1-3 /proc/loadavg)"
bench 1 "$work/bench-one.json"
echo "   $(figure "$work/bench-one.json" throughput) stampings/s"
echo "== two nodes at once, $bench_count stampings through each, 32 streams each"
started=$(date +%s.%N)
bench 1 "$work/bench-two-1.json" & first=$!
bench 2 "$work/bench-two-2.json" & second=$!
wait "$first" || fail "bench through node 1"
wait "$second" || fail "bench through node 2"
ended=$(date +%s.%N)
total=$("$python" -c "print(round(2 * $bench_count / ($ended - $started), 1))")
echo "   node 1 $(figure "$work/bench-two-1.json" throughput)/s, node 2 $(figure "$work/bench-two-2.json" throughput)/s; together $total stampings/s (all stampings / wall time)"
for n in 1 2; do
  as archivist "$n" audit verify --log-key "$log_key" >/dev/null || fail "the audit log does not verify after the benchmark (node $n)"
done
echo "compose-local: the audit log verifies after the benchmark"
