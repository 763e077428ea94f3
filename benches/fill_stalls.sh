#!/usr/bin/env bash
# Hits served while segments are filled: do fills stall the players polling a playlist?
#   benches/fill_stalls.sh BIN [BIN...]     (from the repository root; build first)
# Per round and binary, alternated: peerbench's origin and a cold edge (benches/peer.sh:
# one worker thread, pinned to CPU 0); the 720p playlist stored; two players poll it
# (benches/fill_pollers.py, a GET every 2 ms per player, CPU 1) while curl fetches every
# segment of peerbench's media once, cold, one after the other (60 misses, 31 MB). Prints
# per run: how long the 60 misses took, the pollers' p50/p99/p999/max latency and how many
# polls took over 5 ms, and the edge's sealed-file counters when it has them. Waits
# PAUSE (3) seconds between runs, so that each edge finds memory as a fresh one would.
# Env: ROUNDS (4), PAUSE (3), PEERBENCH (../shared/peerbench), MEDIA_DIR (/tmp/peerbench/media),
#   RESULTS (/tmp/hls-edge-bench/fill-stalls-TIMESTAMP).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/benches/lib.sh"
[[ $# -ge 1 ]] || { echo "usage: $0 BIN [BIN...]" >&2; exit 2; }
for bin in "$@"; do [[ -x $bin ]] || { echo "fill_stalls.sh: $bin is not an executable" >&2; exit 1; }; done
PEERBENCH=$(cd "${PEERBENCH:-$root/../shared/peerbench}" && pwd)
ROUNDS=${ROUNDS:-4} PAUSE=${PAUSE:-3} PEERS=hls-edge
export MEDIA_DIR=${MEDIA_DIR:-/tmp/peerbench/media}
[[ -f $MEDIA_DIR/master.m3u8 ]] || "$PEERBENCH/make-media.sh" "$MEDIA_DIR"
RESULTS=${RESULTS:-/tmp/hls-edge-bench/fill-stalls-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$RESULTS"
bench_peerbench_env "$RESULTS"
export HLS_EDGE_ROOT=$root
trap '"$PEERBENCH/peers.sh" stop hls-edge; "$PEERBENCH/origin.sh" stop' EXIT
"$PEERBENCH/origin.sh" start >/dev/null
port=$HLS_EDGE_PORT admin=$((HLS_EDGE_PORT + 1000))
segments=("$MEDIA_DIR"/720p/*.ts "$MEDIA_DIR"/360p/*.ts)

for ((r = 1; r <= ROUNDS; r++)); do
  for bin in "$@"; do
    HLS_EDGE_BIN=$bin "$PEERBENCH/peers.sh" start hls-edge >/dev/null
    curl -sf -o /dev/null "http://127.0.0.1:$port/720p/index.m3u8"
    taskset -c 1 python3 "$root/benches/fill_pollers.py" "$port" /720p/index.m3u8 1.2 >"$RESULTS/polls" &
    pollers=$!
    sleep 0.3 # the pollers under way before the first miss
    start=$(date +%s%N)
    for f in "${segments[@]}"; do
      taskset -c 1 curl -sf -o /dev/null "http://127.0.0.1:$port${f#"$MEDIA_DIR"}"
    done
    took=$((($(date +%s%N) - start) / 1000000))
    wait "$pollers"
    counters=$(curl -sf "http://127.0.0.1:$admin/metrics" |
      awk '/^hls_edge_sealed_sheets_total|^hls_edge_sealed_file_make_seconds_(sum|count)/ { printf "%s %s ", $1, $2 }')
    echo "round $r $(basename "$bin") misses=${#segments[@]} took_ms=$took $(cat "$RESULTS/polls") $counters" |
      tee -a "$RESULTS/runs.txt"
    "$PEERBENCH/peers.sh" stop hls-edge
    sleep "$PAUSE"
  done
done
echo "results in $RESULTS"
