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

bench_media "$dir/media"
bench_origin "$dir/media" "$origin_port"
pids+=("$bench_origin_pid")
bench_edge_config "$port" "$origin_port" "$admin_port" >"$dir/edge.yaml"
valgrind --tool=callgrind --callgrind-out-file="$dir/callgrind.out.%p" \
  "$bin" -c "$dir/edge.yaml" >"$dir/edge.log" 2>&1 &
vg=$!
pids+=("$vg")
for _ in $(seq 600); do
  curl -sf -o /dev/null "http://127.0.0.1:$port/hls/v/index.m3u8" && break
  kill -0 "$vg" 2>/dev/null || { cat "$dir/edge.log" >&2; exit 1; }
  sleep 0.2
done

# instructions the edge executes for N hits of PATH on one connection
measure() {
  local path=$1 n=$2 url="http://127.0.0.1:$port$1"
  curl -s -o /dev/null -o /dev/null "$url" "$url"         # stored, then hit once
  : >"$dir/urls"
  for _ in $(seq "$n"); do printf 'url = "%s"\noutput = "/dev/null"\n' "$url" >>"$dir/urls"; done
  callgrind_control -z "$vg" >/dev/null
  curl -s -K "$dir/urls"
  rm -f "$dir"/callgrind.out.*
  callgrind_control -d "$vg" >/dev/null
  local total
  total=$(grep -h '^summary:' "$dir"/callgrind.out.* | awk '{s += $2} END {print s}')
  if [[ -n ${PROFILE_DIR:-} ]]; then
    mkdir -p "$PROFILE_DIR"
    cat "$dir"/callgrind.out.* >"$PROFILE_DIR/$3.callgrind"
  fi
  echo "$path,$n,$(( total / n ))"
}
echo "object,requests,instructions_per_request"
measure /hls/v/index.m3u8 "$n_playlist" playlist
measure /hls/v/seg_00010.ts "$n_segment" segment
