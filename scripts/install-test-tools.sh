#!/usr/bin/env bash
# Installs what the test suite needs when it is missing: Debian packages (qpdf, poppler-utils,
# postgresql, softhsm2) and a Python venv with pyHanko (and its CLI). Idempotent: a second run
# installs nothing. Used by scripts/test.sh; safe to run by hand.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="${ESEAL_TEST_VENV:-$root/target/test-venv}"

need_apt=()
command -v qpdf >/dev/null || need_apt+=(qpdf)
command -v pdfsig >/dev/null || need_apt+=(poppler-utils)
command -v pdftoppm >/dev/null || need_apt+=(poppler-utils)
# A private PostgreSQL per test binary (tests/common/postgres.rs): initdb and pg_ctl.
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null || need_apt+=(postgresql)
# Seal keys in a PKCS#11 token (tests/keys_pkcs11.rs): SoftHSM2's module and softhsm2-util.
{ command -v softhsm2-util >/dev/null && [ -f /usr/lib/softhsm/libsofthsm2.so ]; } || need_apt+=(softhsm2)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "install-test-tools: apt-get install ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  $sudo_cmd apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ ! -x "$venv/bin/pyhanko" ]; then
  echo "install-test-tools: creating venv $venv with pyhanko"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip
  "$venv/bin/pip" install -q 'pyhanko[opentype,image-support]' pyhanko-cli
fi
"$venv/bin/pyhanko" --version >/dev/null
# The stock gRPC client of tests/service_python_client.rs: stubs generated from proto/ with
# grpcio-tools, calls made with grpcio.
if ! "$venv/bin/python" -c 'import grpc, grpc_tools' 2>/dev/null; then
  echo "install-test-tools: installing grpcio and grpcio-tools into $venv"
  "$venv/bin/pip" install -q grpcio grpcio-tools
fi
# Independent implementations tests/audit_merkle.rs cross-checks the audit library against
# (tests/python/audit_crosscheck.py): pymerkle (RFC 9162 Merkle tree) and rfc8785 (JCS).
if ! "$venv/bin/python" -c 'import pymerkle, rfc8785' 2>/dev/null; then
  echo "install-test-tools: installing pymerkle and rfc8785 into $venv"
  "$venv/bin/pip" install -q 'pymerkle==7.0.0' 'rfc8785==0.1.4'
fi
# The BagIt validator tests/archive.rs checks the archive bags with (`bagit.py --validate`).
if [ ! -x "$venv/bin/bagit.py" ]; then
  echo "install-test-tools: installing bagit into $venv"
  "$venv/bin/pip" install -q 'bagit==1.9.0'
fi
echo "install-test-tools: ok (venv $venv)"
