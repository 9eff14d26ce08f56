# Shared by the tsmesh-*.sh benchmark paths (sourced, not run). Follows the yardstick's path
# contract (../shared/bench/README.md): LISTEN_PORT, TARGET_HOST, TARGET_PORT, HOP_PORT, WORK_DIR.
# Optional: ACCESS_LOG=0 (run with --no-access-log), PRODUCT_ENV=0 (without the product's proxy
# environment), MESH_ALPN=tsmesh-h2 (HTTP/2 between the
# sidecars instead of the default HTTP/1.1), TSMESH_NODE_FLAGS (e.g. --cpu-prof ...),
# DRAIN_SECONDS (default 1, so a SIGTERM ends the run quickly and profiles get written).
set -euo pipefail
: "${LISTEN_PORT:?} ${TARGET_HOST:?} ${TARGET_PORT:?} ${HOP_PORT:?} ${WORK_DIR:?}"
TSMESH_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TSMESH_PATHS=$TSMESH_ROOT/bench/paths
TSMESH_CLI=${TSMESH_CLI:-$TSMESH_ROOT/build/runtime/cli/main.js}
[[ -f $TSMESH_CLI ]] || { echo "missing $TSMESH_CLI: run npm run build" >&2; exit 1; }
# The CLI has no flag for the peer sidecar's inbound port: a client sidecar always dials
# <endpoint address>:15006. So the backend "pod" gets its own loopback address derived from
# HOP_PORT (127.1.x.y), unique per HOP_PORT, and its sidecar's inbound listens on 15006 there.
BACKEND_POD_IP=127.1.$(((HOP_PORT >> 8) & 255)).$((HOP_PORT & 255))
access_log_flag=()
[[ ${ACCESS_LOG:-1} == 0 ]] && access_log_flag=(--no-access-log)
[[ -n ${MESH_ALPN:-} ]] && access_log_flag+=(--mesh-alpn "$MESH_ALPN")

# tsmesh_proxy SNAPSHOT CERT_DIR ADDRESS OUTBOUND_PORT INBOUND_PORT
tsmesh_proxy() {
  local snapshot=$1 certs=$2 address=$3 outbound=$4 inbound=$5
  # The environment the product starts every proxy with (PROXY_PROCESS_ENV in lib/constants.ts:
  # the injected container, gateways and tsmesh up); PRODUCT_ENV=0 runs without it.
  local product_env=(MALLOC_ARENA_MAX=2 GLIBC_TUNABLES=glibc.malloc.mmap_threshold=32768 "NODE_OPTIONS=--max-semi-space-size=2 ${NODE_OPTIONS:-}")
  [[ ${PRODUCT_ENV:-1} == 0 ]] && product_env=()
  # shellcheck disable=SC2086 # TSMESH_NODE_FLAGS is a list of node flags
  env "${product_env[@]}" node ${TSMESH_NODE_FLAGS:-} "$TSMESH_CLI" proxy --snapshot "$snapshot" --cert-dir "$certs" \
    --address "$address" --outbound-port "$outbound" --inbound-port "$inbound" \
    --admin-port 0 --stats-port 0 --health-port 0 --drain-seconds "${DRAIN_SECONDS:-1}" \
    --app-host "$TARGET_HOST" "${access_log_flag[@]}"
}
