#!/usr/bin/env bash
# Cache hits at 1 and 2 worker threads (edge.threads), to size an edge on paper:
#   benches/scaling.sh [ROUNDS] [SECONDS]        (default 3 rounds of 10 s per run)
# Env: HLS_EDGE_BIN (default target/release/hls-edge; build it first with
# cargo build --release), CONNS (wrk connections, default 64), THREADS (the worker
# thread counts to run, default "1 2"), WORK_STEALING (edge.work_stealing: true or
# false; default the edge's default).
# Starts a static origin with a 1 KB VOD playlist and a 750 KB segment, then per
# round and per thread count (1, 2) a fresh edge (the config of benches/peer.sh
# with edge.threads set), warms both objects, and runs wrk -t1 for SECONDS on
# each. With 1 thread the edge is pinned to CPU 0 and wrk to CPU 1; with 2 threads
# neither is pinned (on a 2-core machine the edge then shares its cores with wrk).
# The edge's CPU time comes from /proc/PID/stat. Prints, one line a run,
#   round,threads,object,req_s,edge_cpu_us_per_req,edge_cores_busy
# and the medians per threads/object at the end. Loopback only; everything it
# started is stopped on exit.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/benches/lib.sh"
bin=${HLS_EDGE_BIN:-$root/target/release/hls-edge}
rounds=${1:-3}
seconds=${2:-10}
conns=${CONNS:-64}
threads_list=${THREADS:-1 2}
[[ -x $bin ]] || { echo "scaling.sh: $bin missing: run cargo build --release" >&2; exit 1; }
command -v wrk >/dev/null || { echo "scaling.sh: wrk missing (apt-get install wrk)" >&2; exit 1; }
dir=$(mktemp -d /tmp/hls-edge-scaling.XXXXXX)
pids=()
edge_pid=
cleanup() {
  [[ -n $edge_pid ]] && kill "$edge_pid" 2>/dev/null
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
origin_port=$(free_port)
bench_media "$dir/media"
bench_origin "$dir/media" "$origin_port"
pids+=("$bench_origin_pid")
ticks=$(getconf CLK_TCK)

# CPU time of PID in clock ticks (user + system)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

start_edge() { # THREADS -> sets edge_pid, port
  local threads=$1 admin_port
  port=$(free_port); admin_port=$(free_port)
  local stealing=
  [[ -n ${WORK_STEALING:-} ]] && stealing="\\n  work_stealing: $WORK_STEALING"
  bench_edge_config "$port" "$origin_port" "$admin_port" |
    sed "s/^  threads: 1$/  threads: $threads$stealing/" >"$dir/edge.yaml"
  if [[ $threads == 1 ]]; then
    taskset -c 0 "$bin" -c "$dir/edge.yaml" >"$dir/edge.log" 2>&1 &
  else
    "$bin" -c "$dir/edge.yaml" >"$dir/edge.log" 2>&1 &
  fi
  edge_pid=$!
  for _ in $(seq 100); do
    curl -sf -o /dev/null "http://127.0.0.1:$port/hls/v/index.m3u8" && return 0
    sleep 0.1
  done
  cat "$dir/edge.log" >&2
  return 1
}

stop_edge() { kill "$edge_pid" 2>/dev/null; wait "$edge_pid" 2>/dev/null || true; edge_pid=; }

run() { # ROUND THREADS NAME PATH
  local round=$1 threads=$2 name=$3 url="http://127.0.0.1:$port$4" pin=() before after out req_s
  [[ $threads == 1 ]] && pin=(taskset -c 1)
  curl -s -o /dev/null -o /dev/null "$url" "$url"
  before=$(cpu_ticks "$edge_pid")
  out=$(timeout $((seconds + 20)) "${pin[@]}" wrk -t1 -c"$conns" -d"${seconds}s" "$url")
  after=$(cpu_ticks "$edge_pid")
  req_s=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  awk -v r="$round" -v t="$threads" -v n="$name" -v q="$req_s" -v d=$((after - before)) \
    -v hz="$ticks" -v s="$seconds" 'BEGIN {
      cpu = d / hz
      printf "%s,%s,%s,%.0f,%.1f,%.2f\n", r, t, n, q, cpu * 1e6 / (q * s), cpu / s
    }'
}

echo "round,threads,object,req_s,edge_cpu_us_per_req,edge_cores_busy" | tee "$dir/runs.csv"
for round in $(seq "$rounds"); do
  for threads in $threads_list; do
    start_edge "$threads"
    run "$round" "$threads" playlist /hls/v/index.m3u8 | tee -a "$dir/runs.csv"
    run "$round" "$threads" segment /hls/v/seg_00010.ts | tee -a "$dir/runs.csv"
    stop_edge
  done
done
echo "# medians: threads,object,req_s,edge_cpu_us_per_req,edge_cores_busy"
python3 - "$dir/runs.csv" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
for threads in sorted({r["threads"] for r in rows}):
    for obj in ("playlist", "segment"):
        sel = [r for r in rows if r["threads"] == threads and r["object"] == obj]
        med = lambda k: statistics.median(float(r[k]) for r in sel)
        print(f"# {threads},{obj},{med('req_s'):.0f},{med('edge_cpu_us_per_req'):.1f},{med('edge_cores_busy'):.2f}")
PY
