#!/usr/bin/env bash
# The project's test command (README, .ci/run): installs what the tests need when it is
# missing, then runs every test. Outside tools judge our output: qpdf, poppler (pdfsig,
# pdftoppm), pyHanko (in a venv under target/), openssl.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash scripts/install-test-tools.sh
export ESEAL_PYHANKO="${ESEAL_TEST_VENV:-$root/target/test-venv}/bin/pyhanko"

# The repository stands alone: no file of it may name a path of one machine (a home or work
# folder, a sibling checkout). Such a path builds and tests on that machine only.
if git -C "$root" grep -nIE '(^|[^.[:alnum:]_])/(work|farm|home|root|Users)/|\.\./shared' -- . ':!scripts/test.sh' >&2; then
  echo "test.sh: the lines above name a path of one machine; use a path relative to the repository" >&2
  exit 1
fi

# SoftHSM2 for the PKCS#11 tests: a fresh token folder for this run, named by a generated
# configuration file (SoftHSM2 reads SOFTHSM2_CONF when the module is initialised).
softhsm_dir=$(mktemp -d "${TMPDIR:-/tmp}/eseal-softhsm.XXXXXX")
trap 'rm -rf "$softhsm_dir"' EXIT
mkdir -p "$softhsm_dir/tokens"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$softhsm_dir" > "$softhsm_dir/softhsm2.conf"
export SOFTHSM2_CONF="$softhsm_dir/softhsm2.conf"

# The code's habits: rustfmt (rustfmt.toml) and clippy with every warning an error, on every
# crate and target. Both come with the Rust toolchain; a toolchain without them fails here.
cargo fmt --all --check || { echo "test.sh: cargo fmt --all --check failed: run cargo fmt --all" >&2; exit 1; }
cargo clippy --locked --workspace --all-targets -- -D warnings

# Benchmarks are not tests: scripts/bench.sh runs them.
cargo test --locked --workspace --lib --bins --tests --examples "$@"

if [ $# -eq 0 ]; then
  # The examples in the crates' documentation.
  cargo test --locked --workspace --doc
  # deploy/docker-compose.yml's processes on loopback (PostgreSQL and two nodes; no Docker
  # engine here), with the binary the tests just built.
  bash scripts/compose-local.sh --eseal target/debug/eseal
fi
