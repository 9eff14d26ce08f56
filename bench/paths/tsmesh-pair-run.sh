#!/usr/bin/env bash
# The two sidecars of tsmesh-pair.sh / tsmesh-pair-mtls.sh (MTLS=0|1 selects the hop).
source "$(dirname "$0")/tsmesh-common.sh"
# The client sees the backend pod at BACKEND_POD_IP (its sidecar's address); the server sidecar
# forwards to the app at TARGET_HOST:TARGET_PORT (its --app-host default is 127.0.0.1).
POD_IP=$BACKEND_POD_IP node "$TSMESH_PATHS/snapshot.mjs" client "$WORK_DIR/client.json"
POD_IP=$BACKEND_POD_IP node "$TSMESH_PATHS/snapshot.mjs" server "$WORK_DIR/server.json"
bash "$TSMESH_PATHS/mesh-certs.sh" "$WORK_DIR/certs" client backend
# Mesh mTLS goes to the peer sidecar's 15006. Plaintext (tls DISABLE) goes to the pod's own
# address and port, which capture would redirect to 15006: the server sidecar listens there.
inbound_port=15006
[[ $MTLS == 0 ]] && inbound_port=$TARGET_PORT
tsmesh_proxy "$WORK_DIR/server.json" "$WORK_DIR/certs/backend" "$BACKEND_POD_IP" 0 "$inbound_port" &
tsmesh_proxy "$WORK_DIR/client.json" "$WORK_DIR/certs/client" 127.0.0.1 "$LISTEN_PORT" 0 &
wait
