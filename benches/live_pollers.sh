#!/usr/bin/env bash
# A live media playlist under concurrent pollers, through nginx, Varnish and hls-edge
# side by side (the peers of shared/peerbench):
#   benches/live_pollers.sh            (from the repository root; build first with
#                                       cargo build --release, or set HLS_EDGE_BIN)
# A stdlib Python origin (benches/live_pollers.py) serves /live/index.m3u8, a live playlist
# that gains a segment every 2 s (target duration) and logs every request. For each round,
# each peer and each mode, the peer starts cold (peerbench's peers.sh: pinned to CPU 0),
# then POLLERS keep-alive clients (one asyncio process pinned to CPU 1, beside the origin;
# each poller from its own loopback address 127.0.x.y, as viewers would be) poll the
# playlist through it for DURATION s:
#   player  each client every 1-2 s (its period fixed, drawn with a fixed seed)
#   fast    each client sends its next request as soon as it has read the answer
# Prints CSV per run (columns: live_pollers.py header) and the medians over the rounds:
# requests/s served, p50/p99 latency, origin playlist fetches/s, and staleness: answers
# listing fewer segments than the origin had when the request was sent (max lag in
# segments, and by how long the answer's playlist had been superseded).
# Env: PEERS ("nginx varnish hls-edge"), ROUNDS (1), POLLERS (500), DURATION (30),
#   MODES ("player fast"), PEERBENCH (../shared/peerbench), HLS_EDGE_BIN,
#   RESULTS (/tmp/hls-edge-bench/live_pollers-TIMESTAMP), ORIGIN_PORT, NGINX_PORT,
#   VARNISH_PORT, HLS_EDGE_PORT (free loopback ports by default).
# Takes about ROUNDS x 3 peers x 2 modes x (DURATION + 5) s. Loopback only; everything it
# started is stopped on exit, by PID.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/benches/lib.sh"
PEERBENCH=$(cd "${PEERBENCH:-$root/../shared/peerbench}" && pwd)
PEERS=${PEERS:-nginx varnish hls-edge} ROUNDS=${ROUNDS:-1} POLLERS=${POLLERS:-500}
DURATION=${DURATION:-30} MODES=${MODES:-player fast}
bench_peers_ready live_pollers.sh
RESULTS=${RESULTS:-/tmp/hls-edge-bench/live_pollers-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$RESULTS"
bench_peerbench_env "$RESULTS"
SERVER_CPU=${SERVER_CPU:-0} CLIENT_CPU=${CLIENT_CPU:-1}
py=$root/benches/live_pollers.py
origin_pid=
cleanup() {
  "$PEERBENCH/peers.sh" stop $PEERS || true
  [[ -z $origin_pid ]] || kill "$origin_pid" 2>/dev/null || true
  rm -rf "$PB_SHM"
}
trap cleanup EXIT

# The origin's clock: its playlist lists 6 + floor((now - t0) / 2) segments.
t0=$(python3 -c 'import time; print(f"{time.time():.3f}")')
origin_log=$RESULTS/origin.log
taskset -c "$CLIENT_CPU" python3 "$py" origin "$ORIGIN_PORT" "$t0" "$origin_log" >"$RESULTS/origin.out" 2>&1 &
origin_pid=$!
for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$ORIGIN_PORT/live/index.m3u8" && break; sleep 0.1; done
curl -sf -o /dev/null "http://127.0.0.1:$ORIGIN_PORT/live/index.m3u8" ||
  { echo "live_pollers.sh: the origin did not start: $(tail -3 "$RESULTS/origin.out")" >&2; exit 1; }
{ uname -srm; echo "cpus $(nproc)"; python3 --version; "$HLS_EDGE_BIN" --version 2>&1 | head -1
  dpkg-query -W -f='${Package} ${Version}\n' nginx varnish 2>/dev/null; } >"$RESULTS/versions.txt" || true

echo "== live playlist, $POLLERS pollers x ${DURATION}s, modes: $MODES, rounds: $ROUNDS -> $RESULTS"
{ printf 'round,'; python3 "$py" header | sed 's/$/,server_cpu_pct,client_cpu_pct/'; } | tee "$RESULTS/runs.csv"
for ((r = 1; r <= ROUNDS; r++)); do
  for name in $PEERS; do
    for mode in $MODES; do
      "$PEERBENCH/peers.sh" start "$name" >>"$RESULTS/peers.log"
      port=$("$PEERBENCH/peers/$name.sh" port)
      s0=$(bench_cpu_ticks "$SERVER_CPU") c0=$(bench_cpu_ticks "$CLIENT_CPU")
      line=$(timeout $((DURATION + 60)) taskset -c "$CLIENT_CPU" python3 "$py" client \
        "http://127.0.0.1:$port/live/index.m3u8" "$t0" --name "$name" --mode "$mode" \
        --conns "$POLLERS" --seconds "$DURATION" --origin-log "$origin_log" 2>>"$RESULTS/lags.log")
      s1=$(bench_cpu_ticks "$SERVER_CPU") c1=$(bench_cpu_ticks "$CLIENT_CPU")
      echo "$r,$line,$(bench_cpu_busy "$s0" "$s1"),$(bench_cpu_busy "$c0" "$c1")" | tee -a "$RESULTS/runs.csv"
      "$PEERBENCH/peers.sh" stop "$name"
    done
  done
done

echo "== medians over $ROUNDS round(s) (max_lag_segments, max_stale_ms, stale_answers, errors: the largest) -> $RESULTS/summary.csv"
python3 - "$RESULTS/runs.csv" <<'PY' | tee "$RESULTS/summary.csv"
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
worst = {"max_lag_segments", "max_stale_ms", "stale_answers", "errors"}
cols = [c for c in rows[0] if c not in ("round", "name", "mode", "pollers", "seconds")]
print("name,mode,rounds," + ",".join(cols))
for key in dict.fromkeys((r["name"], r["mode"]) for r in rows):
    got = [r for r in rows if (r["name"], r["mode"]) == key]
    agg = [(max if c in worst else statistics.median)(float(r[c]) for r in got) for c in cols]
    print(",".join(key) + f",{len(got)}," + ",".join(f"{v:.6g}" for v in agg))
PY
echo "lag histograms: $RESULTS/lags.log"
