#!/usr/bin/env bash
# tsmesh, client sidecar -> server sidecar over mesh mTLS (HTTP/1.1 with the tsmesh ALPN, SPIFFE
# certificates from mesh-certs.sh, the backend STRICT), then the server sidecar -> the app.
source "$(dirname "$0")/tsmesh-common.sh"
export MTLS=1 BACKEND_POD_IP
exec bash "$TSMESH_PATHS/tsmesh-pair-run.sh"
