#!/usr/bin/env bash
# Seal-key benchmark (benches/keys.rs; BENCHMARKS.md, "Seal keys"): software, encrypted-file and
# SoftHSM2 keys stamping corpus 01 in one run. Makes a throwaway SoftHSM2 token for it.
#
#   scripts/bench_keys.sh            # ESEAL_BENCH_KEYS_ITERS=400 by default
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash scripts/install-test-tools.sh >/dev/null
dir=$(mktemp -d "${TMPDIR:-/tmp}/eseal-bench-softhsm.XXXXXX")
trap 'rm -rf "$dir"' EXIT
mkdir -p "$dir/tokens"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$dir" > "$dir/softhsm2.conf"
export SOFTHSM2_CONF="$dir/softhsm2.conf"
export ESEAL_BENCH_TOKEN=eseal-bench ESEAL_BENCH_PIN=11223344
softhsm2-util --init-token --free --label "$ESEAL_BENCH_TOKEN" --so-pin 44332211 --pin "$ESEAL_BENCH_PIN" >/dev/null
cargo bench --bench keys
