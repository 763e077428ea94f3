#!/usr/bin/env bash
# Cache hits through nginx, hls-edge and Pingora's floor (benches/pingora_floor.rs: a
# Pingora proxy answering every request from memory in request_filter, no cache) side by
# side:
#   benches/floor.sh [ROUNDS]          (default 3; from the repository root)
# How much of the gap between the edge and nginx is Pingora's own HTTP/1 path, and how
# much is the edge's: the floor is what any Pingora proxy pays per request.
# Uses shared/peerbench's static origin and its nginx peer (the same nginx.conf as in
# run-all.sh), the edge as benches/peer.sh runs it, and the floor, each pinned to CPU 0;
# every round and scenario runs the three one after the other (order rotated each round)
# with wrk -t1 -c64 pinned to CPU 1: 3 s warm-up, then 10 s measured. The scenarios are
# peerbench's: `playlist` (/720p/index.m3u8, 1 KB) and `hot` (/720p/seg_00010.ts; the floor
# serves a body of the same size). Server CPU is CPU 0's busy time from /proc/stat, as
# peerbench's load.sh counts it.
# Prints CSV, one line a run: round,scenario,server,req_s,cpu_us_per_req,p50_ms,p99_ms,
# then the medians per scenario and server and the ratios to nginx.
# Env: SCENARIOS ("playlist hot"), PEERBENCH (../shared/peerbench), HLS_EDGE_BIN
#   (target/release/hls-edge),
#   FLOOR_BIN (built here with cargo bench --no-run unless set), FLOOR_ARGS (more
#   arguments for the floor: "--session" for Pingora's session alone, "--write-buffer 1460"
#   for Pingora's default buffer, which sends a playlist hit in two writes), RESULTS
#   (/tmp/hls-edge-bench/floor-TIMESTAMP), DURATION (10), WARMUP (3), CONNS (64).
# Loopback only; everything it started is stopped on exit, by PID.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/benches/lib.sh"
PEERBENCH=$(cd "${PEERBENCH:-$root/../shared/peerbench}" && pwd)
PEERS="nginx hls-edge"
rounds=${1:-3}
DURATION=${DURATION:-10} WARMUP=${WARMUP:-3} CONNS=${CONNS:-64}
SCENARIOS=${SCENARIOS:-playlist hot}
bench_peers_ready floor.sh
command -v wrk >/dev/null || { echo "floor.sh: wrk missing (apt-get install wrk)" >&2; exit 1; }
if [[ -z ${FLOOR_BIN:-} ]]; then
  FLOOR_BIN=$(cd "$root" && cargo bench --bench pingora_floor --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "pingora_floor" and m.get("executable"):
        print(m["executable"])')
fi
[[ -x $FLOOR_BIN ]] || { echo "floor.sh: the floor binary did not build (cargo bench --bench pingora_floor --no-run)" >&2; exit 1; }
RESULTS=${RESULTS:-/tmp/hls-edge-bench/floor-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$RESULTS"
bench_peerbench_env "$RESULTS"
export MEDIA_DIR=${MEDIA_DIR:-/tmp/peerbench/media}
SERVER_CPU=${SERVER_CPU:-0} CLIENT_CPU=${CLIENT_CPU:-1}
floor_port=$(free_port)
floor_pid=
cleanup() {
  [[ -z $floor_pid ]] || kill "$floor_pid" 2>/dev/null || true
  "$PEERBENCH/peers.sh" stop $PEERS >/dev/null 2>&1 || true
  "$PEERBENCH/origin.sh" stop >/dev/null 2>&1 || true
  rm -rf "$PB_SHM"
}
trap cleanup EXIT

[[ -f $MEDIA_DIR/master.m3u8 ]] || "$PEERBENCH/make-media.sh" "$MEDIA_DIR" >"$RESULTS/media.log" 2>&1
"$PEERBENCH/origin.sh" start 0 >"$RESULTS/origin.log"
"$PEERBENCH/peers.sh" start $PEERS >"$RESULTS/peers.log"
declare -A path=([playlist]=/720p/index.m3u8 [hot]=/720p/seg_00010.ts)
segment_bytes=$(curl -sf "http://127.0.0.1:$ORIGIN_PORT${path[hot]}" | wc -c)
# shellcheck disable=SC2086 # FLOOR_ARGS is a list of arguments
taskset -c "$SERVER_CPU" "$FLOOR_BIN" --listen "127.0.0.1:$floor_port" --segment-bytes "$segment_bytes" \
  ${FLOOR_ARGS:-} >"$RESULTS/floor.out" 2>&1 &
floor_pid=$!
declare -A base=(
  [nginx]=http://127.0.0.1:$NGINX_PORT
  [hls-edge]=http://127.0.0.1:$HLS_EDGE_PORT
  [floor]=http://127.0.0.1:$floor_port
)
for name in nginx hls-edge floor; do # answering, then warm: every object once stored
  for _ in $(seq 100); do curl -sf -o /dev/null "${base[$name]}${path[playlist]}" && break; sleep 0.1; done
  for scen in $SCENARIOS; do
    size=$(curl -sf "${base[$name]}${path[$scen]}" | wc -c)
    want=$(curl -sf "http://127.0.0.1:$ORIGIN_PORT${path[$scen]}" | wc -c)
    [[ $size == "$want" ]] || { echo "floor.sh: $name answered ${path[$scen]} with $size bytes, not $want" >&2; exit 1; }
  done
done
{ uname -srm; echo "cpus $(nproc)"; "$HLS_EDGE_BIN" --version 2>&1 | head -1
  dpkg-query -W -f='${Package} ${Version}\n' nginx wrk 2>/dev/null
  echo "floor: $FLOOR_BIN ${FLOOR_ARGS:-}"; } >"$RESULTS/versions.txt" || true

bench_rotated_rounds "$rounds" floor.sh server nginx hls-edge floor

echo "# medians over $rounds rounds (ratios to nginx in the same run)"
python3 - "$RESULTS/runs.csv" <<'PY' | tee "$RESULTS/summary.txt"
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
for scen in dict.fromkeys(r["scenario"] for r in rows):
    med = {}
    for name in ("nginx", "hls-edge", "floor"):
        mine = [r for r in rows if (r["scenario"], r["server"]) == (scen, name)]
        med[name] = {k: statistics.median(float(r[k]) for r in mine)
                     for k in ("req_s", "cpu_us_per_req", "p50_ms", "p99_ms")}
    for name, m in med.items():
        print(f"{scen},{name},req_s={m['req_s']:.0f},cpu_us_per_req={m['cpu_us_per_req']:.1f},"
              f"p50_ms={m['p50_ms']:.2f},p99_ms={m['p99_ms']:.2f},"
              f"req_s_vs_nginx={m['req_s'] / med['nginx']['req_s']:.2f},"
              f"cpu_vs_nginx={m['cpu_us_per_req'] / med['nginx']['cpu_us_per_req']:.2f}")
PY
