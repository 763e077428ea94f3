#!/usr/bin/env bash
# Instructions per cache hit, counted by valgrind's callgrind (repeatable on a
# noisy machine, unlike req/s):
#   benches/instructions.sh [REQUESTS]      (default 2000 playlist / 200 segment hits)
# Env: HLS_EDGE_BIN (default target/release/hls-edge; build it first with
# cargo build --release), so that two builds can be compared:
#   HLS_EDGE_BIN=/tmp/hls-edge-before benches/instructions.sh
#   benches/instructions.sh
# Starts a static origin (python3 http.server) with a 1 KB VOD playlist and a
# 750 KB segment, the edge under callgrind with one worker thread (the
# config of benches/peer.sh), warms both objects, then for each object zeroes
# the counters, sends REQUESTS hits on one keep-alive connection (curl) and
# reads the edge's instruction total. Prints
#   object,requests,instructions_per_request
# PROFILE_DIR=DIR keeps each object's callgrind dump there
# (callgrind_annotate DIR/playlist.callgrind: where the instructions go).
# PROTO=h2: the edge listens on TLS (a self-signed certificate, conf/tls/selfsigned.sh)
# and the hits are HTTP/2 streams, 32 at a time on one connection (h2load -c 1 -m 32).
# FLOOR_BIN=PATH (benches/pingora_floor.rs, built by cargo bench --bench pingora_floor
# --no-run): the same hits are then counted on Pingora's floor too, a Pingora proxy that
# answers from memory (its lines are named floor:PATH); FLOOR_ARGS adds arguments to it
# (e.g. --session: Pingora's server session alone, without the proxy).
# Loopback only; everything it started is stopped on exit.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/benches/lib.sh"
bin=${HLS_EDGE_BIN:-$root/target/release/hls-edge}
n_playlist=${1:-2000}
n_segment=$(( n_playlist / 10 ))
[[ -x $bin ]] || { echo "instructions.sh: $bin missing: run cargo build --release" >&2; exit 1; }
command -v callgrind_control >/dev/null || { echo "instructions.sh: valgrind missing (apt-get install valgrind)" >&2; exit 1; }
dir=$(mktemp -d /tmp/hls-edge-instr.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
origin_port=$(free_port); port=$(free_port); admin_port=$(free_port)

proto=${PROTO:-h1}
case $proto in
h1) scheme=http ;;
h2)
  scheme=https
  command -v h2load >/dev/null || { echo "instructions.sh: PROTO=h2 needs h2load (apt-get install nghttp2-client)" >&2; exit 1; }
  "$root/conf/tls/selfsigned.sh" "$dir/tls" >/dev/null ;;
*) echo "instructions.sh: PROTO is h1 or h2, not $proto" >&2; exit 1 ;;
esac
bench_media "$dir/media"
bench_origin "$dir/media" "$origin_port"
pids+=("$bench_origin_pid")
bench_edge_config "$port" "$origin_port" "$admin_port" >"$dir/edge.yaml"
if [[ $proto == h2 ]]; then
  bench_edge_tls "$dir/edge.yaml" "$port" "$dir/tls/edge.crt" "$dir/tls/edge.key"
fi

# starts SERVER... under callgrind (its pid in $vg) and waits until it answers on $port
start_counted() {
  valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind.out.%p" "$@" >"$dir/server.log" 2>&1 &
  vg=$!
  pids+=("$vg")
  for _ in $(seq 600); do
    curl -sfk -o /dev/null "$scheme://127.0.0.1:$port/hls/v/index.m3u8" && return 0
    kill -0 "$vg" 2>/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    sleep 0.2
  done
  echo "instructions.sh: $1 did not answer" >&2
  exit 1
}
start_counted "$bin" -c "$dir/edge.yaml"

# instructions the edge executes for N hits of PATH on one connection
measure() {
  local path=$1 n=$2 url="$scheme://127.0.0.1:$port$1"
  curl -sk -o /dev/null -o /dev/null "$url" "$url"         # stored, then hit once
  if [[ $proto == h2 ]]; then
    h2load -n 64 -c 1 -m 32 "$url" >/dev/null               # the h2 path warmed too
    callgrind_control -z "$vg" >/dev/null
    h2load -n "$n" -c 1 -m 32 "$url" | grep -q "$n succeeded" ||
      { echo "instructions.sh: not every h2 request of $url succeeded" >&2; exit 1; }
  else
    : >"$dir/urls"
    for _ in $(seq "$n"); do printf 'url = "%s"\noutput = "/dev/null"\n' "$url" >>"$dir/urls"; done
    callgrind_control -z "$vg" >/dev/null
    curl -s -K "$dir/urls"
  fi
  rm -f "$dir"/callgrind.out.*
  callgrind_control -d "$vg" >/dev/null
  local total
  total=$(grep -h '^summary:' "$dir"/callgrind.out.* | awk '{s += $2} END {print s}')
  if [[ -n ${PROFILE_DIR:-} ]]; then
    mkdir -p "$PROFILE_DIR"
    cat "$dir"/callgrind.out.* >"$PROFILE_DIR/$3.callgrind"
  fi
  echo "${prefix:-}$path,$n,$(( total / n ))"
}
echo "object,requests,instructions_per_request"
measure /hls/v/index.m3u8 "$n_playlist" playlist
measure /hls/v/seg_00010.ts "$n_segment" segment
if [[ -n ${FLOOR_BIN:-} ]]; then
  kill "$vg"; wait "$vg" 2>/dev/null || true
  floor_args=(--listen "127.0.0.1:$port" --segment-bytes "$(stat -c %s "$dir/media/hls/v/seg_00010.ts")")
  [[ $proto == h2 ]] && floor_args+=(--tls "$dir/tls/edge.crt" "$dir/tls/edge.key")
  # shellcheck disable=SC2206 # FLOOR_ARGS is a list of arguments
  floor_args+=(${FLOOR_ARGS:-})
  start_counted "$FLOOR_BIN" "${floor_args[@]}"
  prefix=floor:
  measure /hls/v/index.m3u8 "$n_playlist" floor-playlist
  measure /hls/v/seg_00010.ts "$n_segment" floor-segment
fi
