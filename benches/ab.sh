#!/usr/bin/env bash
# Two builds of the edge side by side, for a change's before/after on a noisy machine:
#   benches/ab.sh BIN_A BIN_B [ROUNDS]      (default 5 rounds)
# Both edges run at once with the config of benches/peer.sh (one worker thread, an
# in-memory cache) in front of one static origin (python3 http.server, lib.sh's 1 KB
# playlist and 750 KB segment), each pinned to the same CPU; only the one being
# measured has work. Each round measures every scenario on A then B (the order flips
# every round) with wrk -t1 -c64 pinned to the other CPU: 3 s warm-up, 10 s measured.
# Server CPU is the server CPU's busy time from /proc/stat.
# Prints CSV, one line a run: round,scenario,build,req_s,cpu_us_per_req,p50_ms,p99_ms,
# then per scenario the medians of each build and the median over rounds of B/A
# (req/s and CPU per request of B over A in the same round: the machine's drift cancels).
# Env: SCENARIOS ("playlist hot"), RESULTS (/tmp/hls-edge-bench/ab-TIMESTAMP),
#   DURATION (10), WARMUP (3), CONNS (64), SERVER_CPU (0), CLIENT_CPU (1),
#   PROTO (h2: both edges listen on TLS with one self-signed certificate,
#   conf/tls/selfsigned.sh, and h2load -c4 -m32 replaces wrk; p50/p99 are then h2load's
#   mean and max request time).
# Loopback only; everything it started is stopped on exit, by PID.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/benches/lib.sh"
[[ $# -ge 2 ]] || { sed -n '2,3p' "$0" >&2; exit 1; }
declare -A bin=([A]=$1 [B]=$2)
rounds=${3:-5}
for b in A B; do [[ -x ${bin[$b]} ]] || { echo "ab.sh: ${bin[$b]} is not an executable" >&2; exit 1; }; done
command -v wrk >/dev/null || { echo "ab.sh: wrk missing (apt-get install wrk)" >&2; exit 1; }
PROTO=${PROTO:-h1}
[[ $PROTO == h2 ]] && ! command -v h2load >/dev/null &&
  { echo "ab.sh: h2load missing (apt-get install nghttp2-client)" >&2; exit 1; }
DURATION=${DURATION:-10} WARMUP=${WARMUP:-3} CONNS=${CONNS:-64}
SCENARIOS=${SCENARIOS:-playlist hot}
SERVER_CPU=${SERVER_CPU:-0} CLIENT_CPU=${CLIENT_CPU:-1}
RESULTS=${RESULTS:-/tmp/hls-edge-bench/ab-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$RESULTS"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

bench_media "$RESULTS/media"
origin_port=$(free_port)
bench_origin "$RESULTS/media" "$origin_port"
pids+=("$bench_origin_pid")
declare -A base
scheme=http POINT=wrk
if [[ $PROTO == h2 ]]; then
  "$root/conf/tls/selfsigned.sh" "$RESULTS/tls" >/dev/null
  scheme=https POINT=h2load
fi
for b in A B; do
  port=$(free_port) admin_port=$(free_port)
  bench_edge_config "$port" "$origin_port" "$admin_port" >"$RESULTS/edge-$b.yaml"
  if [[ $PROTO == h2 ]]; then
    bench_edge_tls "$RESULTS/edge-$b.yaml" "$port" "$RESULTS/tls/edge.crt" "$RESULTS/tls/edge.key"
  fi
  taskset -c "$SERVER_CPU" "${bin[$b]}" -c "$RESULTS/edge-$b.yaml" >"$RESULTS/edge-$b.log" 2>&1 &
  pids+=("$!")
  base[$b]=$scheme://127.0.0.1:$port
done
declare -A path=([playlist]=/hls/v/index.m3u8 [hot]=/hls/v/seg_00010.ts)
for b in A B; do # answering, then warm: every object stored whole
  for _ in $(seq 100); do curl -sfk -o /dev/null "${base[$b]}${path[playlist]}" && break; sleep 0.1; done
  for scen in $SCENARIOS; do
    want=$(curl -sf "http://127.0.0.1:$origin_port${path[$scen]}" | wc -c)
    for _ in 1 2; do size=$(curl -sfk "${base[$b]}${path[$scen]}" | wc -c); done
    [[ $size == "$want" ]] || { echo "ab.sh: $b answered ${path[$scen]} with $size bytes, not $want" >&2; exit 1; }
  done
  echo "$b: ${bin[$b]} ($("${bin[$b]}" --version 2>&1 | head -1))" >>"$RESULTS/versions.txt"
done

bench_rotated_rounds "$rounds" ab.sh build A B

echo "# medians over $rounds rounds; B/A is the median of each round's own ratio"
python3 - "$RESULTS/runs.csv" <<'PY' | tee "$RESULTS/summary.txt"
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
for scen in dict.fromkeys(r["scenario"] for r in rows):
    runs = {(r["round"], r["build"]): r for r in rows if r["scenario"] == scen}
    rounds = sorted({k[0] for k in runs})
    for b in ("A", "B"):
        mine = [runs[(n, b)] for n in rounds]
        med = {k: statistics.median(float(r[k]) for r in mine)
               for k in ("req_s", "cpu_us_per_req", "p50_ms", "p99_ms")}
        print(f"{scen},{b},req_s={med['req_s']:.0f},cpu_us_per_req={med['cpu_us_per_req']:.1f},"
              f"p50_ms={med['p50_ms']:.2f},p99_ms={med['p99_ms']:.2f}")
    ratio = lambda k: statistics.median(
        float(runs[(n, "B")][k]) / float(runs[(n, "A")][k]) for n in rounds)
    print(f"{scen},B/A,req_s={ratio('req_s'):.3f},cpu_us_per_req={ratio('cpu_us_per_req'):.3f}")
PY
