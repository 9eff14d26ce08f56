#!/usr/bin/env bash
# tsmesh, client sidecar -> server sidecar over plaintext HTTP/1.1 (a DestinationRule with
# tls DISABLE, the backend PERMISSIVE), then the server sidecar -> the app at TARGET_HOST:TARGET_PORT.
source "$(dirname "$0")/tsmesh-common.sh"
export MTLS=0 BACKEND_POD_IP
exec bash "$TSMESH_PATHS/tsmesh-pair-run.sh"
