#!/usr/bin/env bash
# HTTP/2 beside HTTP/1.1 on cache hits, with h2load (Debian nghttp2-client):
#   benches/h2.sh [REQUESTS]        (default 20000 per run; build first:
#                                    cargo build --release)
# Starts a static origin (python3 http.server) with a 1 KB VOD playlist and a
# 750 KB segment, the release edge with one worker thread listening in
# cleartext and on TLS (self-signed, conf/tls/selfsigned.sh), warms the
# cache, then runs h2load on each object three ways:
#   h2   over TLS:  -c 4 -m 32   (4 connections, 32 streams each)
#   h1.1 over TLS:  --h1 -c 64   (64 connections, one request at a time)
#   h1.1 cleartext: --h1 -c 64
# and prints h2load's summary lines. Loopback only; everything it started
# is stopped on exit.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/benches/lib.sh"
bin=${HLS_EDGE_BIN:-$root/target/release/hls-edge}
n=${1:-20000}
[[ -x $bin ]] || { echo "h2.sh: $bin missing: run cargo build --release" >&2; exit 1; }
command -v h2load >/dev/null || { echo "h2.sh: h2load missing (apt-get install nghttp2-client)" >&2; exit 1; }
dir=$(mktemp -d /tmp/hls-edge-h2bench.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$dir"; }
trap cleanup EXIT
origin_port=$(free_port); plain_port=$(free_port); tls_port=$(free_port); admin_port=$(free_port)

bench_media "$dir/media"
bench_origin "$dir/media" "$origin_port"
pids+=("$bench_origin_pid")
"$root/conf/tls/selfsigned.sh" "$dir/tls" >/dev/null

cat >"$dir/edge.yaml" <<YAML
edge:
  id: edge-bench
  listen:
    - "127.0.0.1:$plain_port"
    - addr: "127.0.0.1:$tls_port"
      tls: {cert: $dir/tls/edge.crt, key: $dir/tls/edge.key}
  threads: 1
  grace_period: 0s
admin:
  listen: 127.0.0.1:$admin_port
cache:
  max_size: 256MiB
log:
  level: warn
origin_groups:
  origin:
    origins: [{url: "http://127.0.0.1:$origin_port"}]
routes:
  - {name: hls, prefix: /hls/, origin_group: origin}
YAML
"$bin" -c "$dir/edge.yaml" >"$dir/edge.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$admin_port/healthz" >/dev/null && break; sleep 0.1; done
for obj in index.m3u8 seg_00010.ts; do
  curl -sf --retry 20 --retry-connrefused --retry-delay 1 -o /dev/null "http://127.0.0.1:$plain_port/hls/v/$obj"
done

run() { # label, h2load args...
  local label=$1; shift
  printf '\n== %s: h2load %s\n' "$label" "$*"
  h2load "$@" | grep -E '^(finished in|requests:|status codes:|traffic:|time for request:|Application protocol:|Cipher:|TLS Protocol:|Server Temp Key:)'
}
for obj in index.m3u8 seg_00010.ts; do
  run "$obj h2 over TLS" -n "$n" -c 4 -m 32 "https://127.0.0.1:$tls_port/hls/v/$obj"
  run "$obj HTTP/1.1 over TLS" --h1 -n "$n" -c 64 "https://127.0.0.1:$tls_port/hls/v/$obj"
  run "$obj HTTP/1.1 cleartext" --h1 -n "$n" -c 64 "http://127.0.0.1:$plain_port/hls/v/$obj"
done
