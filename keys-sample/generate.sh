#!/usr/bin/env bash
# Regenerates the eseal DEVELOPMENT / TEST PKI in this directory.
#
#   DEVELOPMENT AND TESTS ONLY - NOT FOR PRODUCTION.
#   All private keys written here are committed to the repository, i.e. public.
#
# Usage: keys-sample/generate.sh          (from any directory)
#   PYTHON=/path/to/python  use this interpreter (must have Pillow) for the seal PNGs
#   OPENSSL=/path/to/openssl  (default: openssl on PATH; OpenSSL 3 expected)
#
# Every run overwrites all outputs with NEW keys (key generation and ECDSA
# signatures are randomised); file names, subjects, serials, extensions and
# validity dates stay the same. See README.md for the file list.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
HERE="$(pwd)"

OPENSSL="${OPENSSL:-openssl}"
case "$("$OPENSSL" version)" in
  "OpenSSL 3."*) ;;
  *) echo "generate.sh: OpenSSL 3 required, got: $("$OPENSSL" version)" >&2; exit 1 ;;
esac

# Fixed validity windows. `openssl x509 -req` in OpenSSL 3.0 has no -not_before,
# so every certificate is issued with `openssl ca -startdate/-enddate`.
CA_START=20260101000000Z      # CAs:    2026-01-01 .. 2036-01-01 (10 years)
CA_END=20360101000000Z
LEAF_START=20260101000000Z    # leaves: 2026-01-01 .. 2031-01-01 (5 years)
LEAF_END=20310101000000Z

WORK="$(mktemp -d "${TMPDIR:-/tmp}/eseal-pki.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# ---------------------------------------------------------------------------
# openssl configuration: a throwaway `openssl ca` database + extension profiles
# ---------------------------------------------------------------------------
mkdir -p "$WORK/newcerts"
: > "$WORK/index.txt"

cat > "$WORK/openssl.cnf" <<EOF
[ req ]
distinguished_name = req_dn
string_mask        = utf8only
utf8               = yes
prompt             = no

[ req_dn ]
CN = placeholder

[ ca ]
default_ca = dev_ca

[ dev_ca ]
dir             = $WORK
database        = \$dir/index.txt
new_certs_dir   = \$dir/newcerts
serial          = \$dir/serial
default_md      = sha256
policy          = policy_any
preserve        = yes
unique_subject  = no
copy_extensions = none
string_mask     = utf8only
email_in_dn     = no

[ policy_any ]
countryName            = optional
stateOrProvinceName    = optional
localityName           = optional
organizationName       = optional
organizationalUnitName = optional
commonName             = supplied

[ ext_root_ca ]
basicConstraints       = critical, CA:true
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ ext_sub_ca ]
basicConstraints       = critical, CA:true, pathlen:0
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ ext_seal ]
basicConstraints       = critical, CA:false
keyUsage               = critical, digitalSignature, nonRepudiation
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ ext_tls_server ]
basicConstraints       = critical, CA:false
keyUsage               = critical, digitalSignature
extendedKeyUsage       = serverAuth
subjectAltName         = DNS:localhost, IP:127.0.0.1, IP:::1
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

[ ext_tls_client ]
basicConstraints       = critical, CA:false
keyUsage               = critical, digitalSignature
extendedKeyUsage       = clientAuth
subjectAltName         = URI:\${ENV::CLIENT_URI}
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always
EOF
export OPENSSL_CONF="$WORK/openssl.cnf"
export CLIENT_URI="spiffe://eseal.example/unset"   # referenced by ext_tls_client

# ---------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------

# genkey NAME ec P-256|P-384  |  genkey NAME rsa BITS
# -> NAME.key (PKCS#8 PEM, unencrypted) and NAME.pk8 (PKCS#8 DER, unencrypted)
genkey() {
  local name="$1" kind="$2" param="$3"
  case "$kind" in
    ec)  "$OPENSSL" genpkey -quiet -algorithm EC -pkeyopt "ec_paramgen_curve:$param" \
           -pkeyopt ec_param_enc:named_curve -out "$name.key" ;;
    rsa) "$OPENSSL" genpkey -quiet -algorithm RSA -pkeyopt "rsa_keygen_bits:$param" \
           -pkeyopt rsa_keygen_pubexp:65537 -out "$name.key" ;;
  esac
  # NB: `openssl pkey -outform DER` writes the *traditional* (SEC1 / PKCS#1)
  # encoding in OpenSSL 3.0, so use pkcs8 -topk8 to get PKCS#8 DER.
  "$OPENSSL" pkcs8 -topk8 -nocrypt -in "$name.key" -outform DER -out "$name.pk8"
  chmod 0644 "$name.key" "$name.pk8"   # committed sample keys; nothing to protect
}

# issue NAME SUBJECT SERIAL_HEX EXT_SECTION START END MD ISSUER|self
# -> NAME.pem (certificate only, PEM)
issue() {
  local name="$1" subj="$2" serial="$3" ext="$4" start="$5" end="$6" md="$7" issuer="$8"
  "$OPENSSL" req -new -utf8 -key "$name.key" -subj "$subj" -out "$WORK/$name.csr"
  echo "$serial" > "$WORK/serial"
  if [[ "$issuer" == self ]]; then
    "$OPENSSL" ca -batch -notext -utf8 -selfsign -keyfile "$name.key" \
      -in "$WORK/$name.csr" -out "$name.pem" -extensions "$ext" \
      -startdate "$start" -enddate "$end" -md "$md" 2>"$WORK/ca.log" \
      || { cat "$WORK/ca.log" >&2; exit 1; }
  else
    "$OPENSSL" ca -batch -notext -utf8 -cert "$issuer.pem" -keyfile "$issuer.key" \
      -in "$WORK/$name.csr" -out "$name.pem" -extensions "$ext" \
      -startdate "$start" -enddate "$end" -md "$md" 2>"$WORK/ca.log" \
      || { cat "$WORK/ca.log" >&2; exit 1; }
  fi
}

# ---------------------------------------------------------------------------
# clean previous outputs (only files this script produces)
# ---------------------------------------------------------------------------
rm -f ./*.pem ./*.key ./*.pk8 ./seal-*.png

echo "== seal hierarchy"
genkey root-ca ec P-384
issue  root-ca "/C=CN/O=eseal Development/CN=eseal Development Root CA" \
       1000 ext_root_ca "$CA_START" "$CA_END" sha384 self

genkey seal-ca ec P-256
issue  seal-ca "/C=CN/O=eseal Development/CN=eseal Development Seal Issuing CA" \
       1001 ext_sub_ca "$CA_START" "$CA_END" sha384 root-ca

genkey seal-approval-ec ec P-256
issue  seal-approval-ec "/C=CN/O=示例市行政审批局/CN=示例市行政审批局行政审批专用章" \
       2001 ext_seal "$LEAF_START" "$LEAF_END" sha256 seal-ca

genkey seal-housing-rsa rsa 3072
issue  seal-housing-rsa "/C=CN/O=示例市住房和城乡建设局/CN=示例市住房和城乡建设局业务专用章" \
       2002 ext_seal "$LEAF_START" "$LEAF_END" sha256 seal-ca

for s in seal-approval-ec seal-housing-rsa; do
  cat "$s.pem" seal-ca.pem > "$s-chain.pem"    # leaf, then issuing CA (no root)
done

echo "== TLS hierarchy"
genkey tls-ca ec P-256
issue  tls-ca "/C=CN/O=eseal Development/CN=eseal Development TLS CA" \
       3000 ext_root_ca "$CA_START" "$CA_END" sha256 self

genkey server ec P-256
issue  server "/O=eseal Development/CN=localhost" \
       3001 ext_tls_server "$LEAF_START" "$LEAF_END" sha256 tls-ca

serial=3101
while read -r name cn uri; do
  genkey "$name" ec P-256
  CLIENT_URI="$uri" issue "$name" "/O=eseal Development/CN=$cn" \
       "$serial" ext_tls_client "$LEAF_START" "$LEAF_END" sha256 tls-ca
  serial=$((serial + 1))
done <<'EOF'
client-department  approval-system  spiffe://eseal.example/department/approval-system
client-custodian   custodian-wang   spiffe://eseal.example/custodian/wang
client-seal-admin  seal-admin-li    spiffe://eseal.example/seal-admin/li
client-archivist   archivist-zhao   spiffe://eseal.example/archivist/zhao
EOF

# ---------------------------------------------------------------------------
# seal images
# ---------------------------------------------------------------------------
echo "== seal images"
if [[ -z "${PYTHON:-}" ]]; then
  for cand in /tmp/pkivenv/bin/python python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import PIL' 2>/dev/null; then
      PYTHON="$cand"; break
    fi
  done
fi
if [[ -z "${PYTHON:-}" ]]; then
  echo "  Pillow not found; creating venv /tmp/pkivenv" >&2
  python3 -m venv /tmp/pkivenv
  /tmp/pkivenv/bin/pip install --quiet pillow
  PYTHON=/tmp/pkivenv/bin/python
fi
"$PYTHON" make_seal_png.py --org 示例市行政审批局 --kind 行政审批专用章 --out seal-approval-ec.png
"$PYTHON" make_seal_png.py --org 示例市住房和城乡建设局 --kind 业务专用章 --out seal-housing-rsa.png

# ---------------------------------------------------------------------------
# verification + summary
# ---------------------------------------------------------------------------
echo "== verify"
"$OPENSSL" verify -x509_strict -CAfile root-ca.pem -untrusted seal-ca.pem \
  seal-ca.pem seal-approval-ec.pem seal-housing-rsa.pem
"$OPENSSL" verify -x509_strict -CAfile root-ca.pem -untrusted seal-ca.pem seal-*.pem
"$OPENSSL" verify -x509_strict -CAfile tls-ca.pem -purpose sslserver server.pem
"$OPENSSL" verify -x509_strict -CAfile tls-ca.pem -purpose sslclient client-*.pem
"$OPENSSL" verify -CAfile tls-ca.pem server.pem client-*.pem
# the two hierarchies must not cross-validate
if "$OPENSSL" verify -CAfile tls-ca.pem -untrusted seal-ca.pem seal-approval-ec.pem >/dev/null 2>&1 \
   || "$OPENSSL" verify -CAfile root-ca.pem server.pem >/dev/null 2>&1; then
  echo "generate.sh: seal and TLS hierarchies cross-validate!" >&2; exit 1
fi
# every key matches its certificate; every .pk8 is the DER of the .key
for k in ./*.key; do
  n="${k%.key}"
  [[ "$("$OPENSSL" pkey -in "$k" -pubout)" == "$("$OPENSSL" x509 -in "$n.pem" -noout -pubkey)" ]] \
    || { echo "generate.sh: $n.key does not match $n.pem" >&2; exit 1; }
  head -1 "$k" | grep -qx -- '-----BEGIN PRIVATE KEY-----' \
    || { echo "generate.sh: $k is not unencrypted PKCS#8 PEM" >&2; exit 1; }
  [[ "$("$OPENSSL" base64 -A -in "$n.pk8")" == "$(grep -v -- ----- "$k" | tr -d '\n')" ]] \
    || { echo "generate.sh: $n.pk8 is not the DER of $k" >&2; exit 1; }
done
echo "  keys match certificates; .key is PKCS#8 PEM; .pk8 is the same PKCS#8 as DER"

# The audit log's Ed25519 signing key (PKCS#8 DER). Its verifier key (what archivists are given)
# is written by `eseal audit log-key keys-sample/audit-log.pk8` into audit-log.vkey.
"$OPENSSL" genpkey -algorithm ed25519 -outform DER -out audit-log.pk8
chmod 644 audit-log.pk8
echo "  audit-log.pk8: Ed25519 log key (regenerate audit-log.vkey with: eseal audit log-key keys-sample/audit-log.pk8 > keys-sample/audit-log.vkey)"

echo "== summary (certificates)"
for c in root-ca seal-ca seal-approval-ec seal-housing-rsa tls-ca server \
         client-department client-custodian client-seal-admin client-archivist; do
  echo "-- $c.pem"
  "$OPENSSL" x509 -in "$c.pem" -noout -nameopt utf8,sep_comma_plus_space \
    -subject -issuer -serial -startdate -enddate -fingerprint -sha256 | sed 's/^/   /'
  "$OPENSSL" x509 -in "$c.pem" -noout -ext subjectAltName,extendedKeyUsage 2>/dev/null \
    | sed -n 's/^ *\(URI\|DNS\|TLS\)/   \1/p'
done
echo "== files in $HERE"
ls -l -- *.pem *.key *.pk8 *.png
