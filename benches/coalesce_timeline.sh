#!/usr/bin/env bash
# Cold-miss coalescing through nginx, Varnish and hls-edge side by side, timed per
# request: when each of N waiters got its first byte and its last, against when the
# origin answered.
#   benches/coalesce_timeline.sh        (from the repository root; build first with
#                                        cargo build --release, or set HLS_EDGE_BIN)
# peerbench's slow origin (300 ms before every answer) serves peerbench's media. For
# each round and each peer: the peer starts cold (peers.sh: pinned to CPU 0), N
# connections are opened, then all N send GET PATH at once (benches/coalesce_timeline.py,
# pinned to CPU 1 beside the origin). peerbench's own coalesce.sh reports only the
# completion times; this one separates "the fill reached every waiter" (first byte)
# from "the client read every body" (done), which on one loopback client core is
# bounded by how fast that client reads N x 740 KB. Then the same N GETs once more, the
# object now stored (the row NAME-warm, no origin fetch): how long that client takes to
# read N bodies from that peer's cache, the floor under the cold run's "done" times.
# Prints CSV per run and the medians over the rounds.
# Env: PEERS ("nginx varnish hls-edge"), ROUNDS (3), N (100), SLOW_MS (300),
#   SEG (/720p/seg_00020.ts), PEERBENCH (../shared/peerbench), HLS_EDGE_BIN,
#   RESULTS (/tmp/hls-edge-bench/coalesce-TIMESTAMP).
# Loopback only; everything it started is stopped on exit, by PID.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/benches/lib.sh"
PEERBENCH=$(cd "${PEERBENCH:-$root/../shared/peerbench}" && pwd)
PEERS=${PEERS:-nginx varnish hls-edge} ROUNDS=${ROUNDS:-3} N=${N:-100}
SLOW_MS=${SLOW_MS:-300} SEG=${SEG:-/720p/seg_00020.ts}
bench_peers_ready coalesce_timeline.sh
RESULTS=${RESULTS:-/tmp/hls-edge-bench/coalesce-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$RESULTS"
bench_peerbench_env "$RESULTS"
export MEDIA_DIR=${MEDIA_DIR:-/tmp/peerbench/media}
export ORIGIN_LOG=$PB_TMP/origin/access.log
CLIENT_CPU=${CLIENT_CPU:-1}
cleanup() {
  "$PEERBENCH/peers.sh" stop $PEERS >/dev/null 2>&1 || true
  "$PEERBENCH/origin.sh" stop || true
  rm -rf "$PB_SHM"
}
trap cleanup EXIT

[[ -f $MEDIA_DIR/master.m3u8 ]] || "$PEERBENCH/make-media.sh" "$MEDIA_DIR" >"$RESULTS/media.log" 2>&1
"$PEERBENCH/origin.sh" start "$SLOW_MS" >"$RESULTS/origin.out"
py=$root/benches/coalesce_timeline.py
echo "== $N coalesced cold GETs of $SEG, origin delay $SLOW_MS ms, rounds: $ROUNDS -> $RESULTS"
{ printf 'round,'; python3 "$py" header; } | tee "$RESULTS/runs.csv"
for ((r = 1; r <= ROUNDS; r++)); do
  for name in $PEERS; do
    "$PEERBENCH/peers.sh" start "$name" >>"$RESULTS/peers.log"
    port=$("$PEERBENCH/peers/$name.sh" port)
    line=$(timeout 90 taskset -c "$CLIENT_CPU" python3 "$py" "http://127.0.0.1:$port$SEG" "$N" "$ORIGIN_LOG" "$name")
    echo "$r,$line" | tee -a "$RESULTS/runs.csv"
    line=$(timeout 90 taskset -c "$CLIENT_CPU" python3 "$py" "http://127.0.0.1:$port$SEG" "$N" "$ORIGIN_LOG" "$name-warm")
    echo "$r,$line" | tee -a "$RESULTS/runs.csv"
    "$PEERBENCH/peers.sh" stop "$name"
  done
done

echo "== medians over $ROUNDS round(s) -> $RESULTS/summary.csv"
python3 - "$RESULTS/runs.csv" <<'PY' | tee "$RESULTS/summary.csv"
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
cols = [c for c in rows[0] if c not in ("round", "name", "requests", "body_bytes")]
print("name,rounds," + ",".join(cols))
for name in dict.fromkeys(r["name"] for r in rows):
    got = [r for r in rows if r["name"] == name]
    med = [statistics.median(float(r[c]) for r in got) for c in cols]
    print(f"{name},{len(got)}," + ",".join(f"{v:.0f}" for v in med))
PY
