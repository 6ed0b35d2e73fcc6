#!/usr/bin/env bash
# Seal keys through the whole service (BENCHMARKS.md, "Seal keys"): one release server with three
# seals on the same certificate authority, whose keys are a plaintext PKCS#8 file (software), an
# encrypted key file, and an ECDSA P-256 key generated in a throwaway SoftHSM2 token; then
# `eseal bench` stamps corpus 01 with each, one after the other, over mTLS.
#
#   scripts/bench_keys_service.sh [COUNT [CONCURRENCY]]     # default 400 stampings, 8 streams
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
count=${1:-400}
concurrency=${2:-8}
document=${ESEAL_CORPUS:-$root/tests/corpus}/01_debian_shared-mime-info-spec.pdf
bash scripts/install-test-tools.sh >/dev/null
cargo build --release --quiet --bin eseal
eseal=$root/target/release/eseal
keys=$root/keys-sample

dir=$(mktemp -d "${TMPDIR:-/tmp}/eseal-bench-keys.XXXXXX")
server_pid=
cleanup() { [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"; }
trap cleanup EXIT
mkdir -p "$dir/tokens" "$dir/keys"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$dir" > "$dir/softhsm2.conf"
export SOFTHSM2_CONF="$dir/softhsm2.conf"
softhsm2-util --init-token --free --label eseal-bench --so-pin 44332211 --pin 11223344 >/dev/null
echo 11223344 > "$dir/pin"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')

"$eseal" keys generate-kek -o "$dir/kek.hex" >/dev/null
cp "$keys/seal-approval-ec.pk8" "$dir/keys/"
"$eseal" keys encrypt "$keys/seal-approval-ec.pk8" -o "$dir/keys/approval-ec.key.enc" --kek-file "$dir/kek.hex" >/dev/null

seed() { # id key chain
  printf '\n[[seed_seals]]\nid = "%s"\nname = "%s 基准测试章"\norganization = "示例市测试局"\nkind = "测试专用章"\nimage = "%s/seal-approval-ec.png"\ncertificate_chain = "%s"\nkey_reference = "%s"\ncustodians = ["custodian-wang"]\n' "$1" "$1" "$keys" "$3" "$2"
}
cat > "$dir/eseal.toml" <<TOML
development = true   # the software row's plaintext key

[server]
listen = "127.0.0.1:$port"
tls_certificate = "$keys/server.pem"
tls_key = "$keys/server.key"
client_ca = "$keys/tls-ca.pem"

[store]
sqlite_path = "$dir/eseal.db"

[keys]
directory = "$dir/keys"
kek_file = "$dir/kek.hex"

[keys.pkcs11]
module = "/usr/lib/softhsm/libsofthsm2.so"
token_label = "eseal-bench"
pin_file = "$dir/pin"

[audit]
log_key = "$keys/audit-log.pk8"

[verification]
trust_anchors = ["$keys/root-ca.pem"]

[[principals]]
name = "approval-system"
san_uri = "spiffe://eseal.example/department/approval-system"
department = ["*"]

[[principals]]
name = "custodian-wang"
san_uri = "spiffe://eseal.example/custodian/wang"
custodian = ["*"]

[[principals]]
name = "archivist-zhao"
san_uri = "spiffe://eseal.example/archivist/zhao"
archivist = true
TOML

# The token key and its certificate, issued by the development seal CA from the CSR.
"$eseal" seal keygen --config "$dir/eseal.toml" --store pkcs11 --name hsm-ec --subject "CN=HSM 基准测试专用章,O=示例市测试局,C=CN" --csr "$dir/hsm.csr" >/dev/null
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,nonRepudiation\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n' > "$dir/ext.cnf"
openssl x509 -req -in "$dir/hsm.csr" -CA "$keys/seal-ca.pem" -CAkey "$keys/seal-ca.key" -set_serial 0x5001 -days 30 -sha256 -extfile "$dir/ext.cnf" -out "$dir/hsm.pem" 2>/dev/null
cat "$dir/hsm.pem" "$keys/seal-ca.pem" > "$dir/hsm-chain.pem"
{
  seed software "seal-approval-ec.pk8" "$keys/seal-approval-ec-chain.pem"
  seed encrypted "approval-ec.key.enc" "$keys/seal-approval-ec-chain.pem"
  seed softhsm2 "pkcs11:label=hsm-ec" "$dir/hsm-chain.pem"
} >> "$dir/eseal.toml"

ESEAL_LOG=warn "$eseal" serve --config "$dir/eseal.toml" > "$dir/server.log" 2>&1 &
server_pid=$!
export ESEAL_SERVER="https://localhost:$port"
for _ in $(seq 100); do "$eseal" health >/dev/null 2>&1 && break; sleep 0.1; done
for seal in software encrypted softhsm2; do "$eseal" health --service "eseal.seal.$seal"; done

echo "corpus 01, $count stampings per seal, $concurrency concurrent streams, one server (pid $server_pid)"
for seal in software encrypted softhsm2; do
  echo "== $seal"
  "$eseal" bench --document "$document" --seal "$seal" --count "$count" --concurrency "$concurrency" --server-pid "$server_pid"
done
