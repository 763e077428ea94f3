#!/usr/bin/env bash
# The hls-edge peer of the side-by-side benchmark (shared/peerbench):
#   benches/peer.sh run PORT ORIGIN_PORT
# execs the release edge in the foreground on 127.0.0.1:PORT with one worker
# thread, an empty in-memory cache, no tokens, the whole path space proxied to
# http://127.0.0.1:ORIGIN_PORT and no per-request log. Build it first:
#   cargo build --release
# Env: HLS_EDGE_BIN (default target/release/hls-edge), HLS_EDGE_SENDFILE (true or false:
# cache.sendfile, stored segments sent with sendfile or copied; default the edge's, true).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/benches/lib.sh"
bin=${HLS_EDGE_BIN:-$root/target/release/hls-edge}
case ${1:-} in
run)
  port=${2:?usage: $0 run PORT ORIGIN_PORT}
  origin_port=${3:?usage: $0 run PORT ORIGIN_PORT}
  [[ -x $bin ]] || { echo "peer.sh: $bin missing: run cargo build --release" >&2; exit 1; }
  dir=$(mktemp -d /tmp/hls-edge-peer.XXXXXX)
  admin_port=$((port + 1000))
  bench_edge_config "$port" "$origin_port" "$admin_port" >"$dir/edge.yaml"
  case ${HLS_EDGE_SENDFILE:-} in
  "") ;;
  true | false) sed -i "s|^cache:\$|cache:\n  sendfile: $HLS_EDGE_SENDFILE|" "$dir/edge.yaml" ;;
  *) echo "peer.sh: HLS_EDGE_SENDFILE is true or false, not $HLS_EDGE_SENDFILE" >&2; exit 2 ;;
  esac
  exec "$bin" -c "$dir/edge.yaml" ;;
*) echo "usage: $0 run PORT ORIGIN_PORT" >&2; exit 2 ;;
esac
