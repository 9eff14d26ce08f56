#!/usr/bin/env bash
# tsmesh, one hop: one sidecar's outbound listener on LISTEN_PORT routes the Host header wrk sends
# (127.0.0.1:LISTEN_PORT, the cluster IP and port of Service bench/backend) to the backend, an
# unmeshed pod at TARGET_HOST:TARGET_PORT, over plain HTTP/1.1 with keep-alive.
source "$(dirname "$0")/tsmesh-common.sh"
node "$TSMESH_PATHS/snapshot.mjs" direct "$WORK_DIR/client.json"
bash "$TSMESH_PATHS/mesh-certs.sh" "$WORK_DIR/certs" client
tsmesh_proxy "$WORK_DIR/client.json" "$WORK_DIR/certs/client" 127.0.0.1 "$LISTEN_PORT" 0
