#!/usr/bin/env bash
# Mesh PKI for the benchmark sidecars: a root CA and one workload certificate per service account,
# shaped like the ones the control plane issues (ECDSA P-256 like the yardstick's certificates,
# exactly one URI SAN spiffe://cluster.local/ns/bench/sa/<sa>, not a CA, serverAuth + clientAuth;
# one host, so no clock skew to allow for).
# Usage: mesh-certs.sh DIR SA...   writes DIR/root-cert.pem and DIR/<sa>/{cert,key,root-cert}.pem (the --cert-dir layout)
set -euo pipefail
dir=${1:?usage: mesh-certs.sh DIR SA...}
shift
mkdir -p "$dir"
cd "$dir"
key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
if [[ ! -f root-cert.pem ]]; then
  key root-key.pem
  openssl req -x509 -new -key root-key.pem -subj /O=cluster.local -days 30 -out root-cert.pem \
    -addext basicConstraints=critical,CA:true -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
fi
for sa in "$@"; do
  mkdir -p "$sa"
  key "$sa/key.pem"
  openssl req -new -key "$sa/key.pem" -subj "/O=cluster.local" -out "$sa/req.csr" 2>/dev/null
  printf '%s\n' \
    "basicConstraints=critical,CA:false" \
    "keyUsage=critical,digitalSignature,keyEncipherment" \
    "extendedKeyUsage=serverAuth,clientAuth" \
    "subjectAltName=critical,URI:spiffe://cluster.local/ns/bench/sa/$sa" >"$sa/ext.cnf"
  openssl x509 -req -in "$sa/req.csr" -CA root-cert.pem -CAkey root-key.pem -CAcreateserial \
    -days 1 -extfile "$sa/ext.cnf" -out "$sa/cert.pem" 2>/dev/null
  cp root-cert.pem "$sa/root-cert.pem"
  rm -f "$sa/req.csr" "$sa/ext.cnf"
done
rm -f root-cert.srl
