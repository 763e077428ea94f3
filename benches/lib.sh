# Shared by the bench scripts (sourced, not run).

# A free TCP port on loopback.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# DIR/hls/v/: a 1 KB VOD playlist of 30 segments and one 750 KB segment (seg_00010.ts).
bench_media() {
  mkdir -p "$1/hls/v"
  {
    printf '#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-PLAYLIST-TYPE:VOD\n'
    for i in $(seq 0 29); do printf '#EXTINF:2.000,\nseg_%05d.ts\n' "$i"; done
    printf '#EXT-X-ENDLIST\n'
  } >"$1/hls/v/index.m3u8"
  head -c 768000 /dev/urandom >"$1/hls/v/seg_00010.ts"
}

# Serves DIR with python3's http.server on loopback PORT in the background (its pid in
# $bench_origin_pid, for the caller to stop) and waits until it answers.
bench_origin() {
  (cd "$1" && exec python3 -m http.server --bind 127.0.0.1 "$2" >/dev/null 2>&1) &
  bench_origin_pid=$!
  for _ in $(seq 100); do curl -sf -o /dev/null "http://127.0.0.1:$2/hls/v/index.m3u8" && return 0; sleep 0.1; done
  echo "bench origin on port $2 did not answer" >&2
  return 1
}

# The benchmarked edge's config on stdout: PORT, ORIGIN_PORT, ADMIN_PORT; one worker
# thread, an empty 1 GiB in-memory cache, tokens off, the whole path space proxied to
# the origin, no per-request log.
bench_edge_config() {
  cat <<YAML
edge:
  id: edge-bench
  listen: ["127.0.0.1:$1"]
  threads: 1
  grace_period: 0s
admin:
  listen: 127.0.0.1:$3
cache:
  max_size: 1GiB
  max_object_size: 64MiB
log:
  level: warn
  access_log: false
origin_groups:
  origin:
    origins:
      - url: http://127.0.0.1:$2
    connect_timeout: 1s
    read_timeout: 10s
routes:
  - name: all
    prefix: /
    origin_group: origin
YAML
}

# Puts a TLS listener with CERT and KEY into FILE, a bench_edge_config for PORT: on PORT
# itself, or with TLS_PORT on that port beside PORT's plaintext one.
#   bench_edge_tls FILE PORT CERT KEY [TLS_PORT]
bench_edge_tls() {
  local file=$1 port=$2 tls="{addr: \"127.0.0.1:${5:-$2}\", tls: {cert: $3, key: $4}}" listen
  if [[ -n ${5:-} ]]; then listen="\"127.0.0.1:$port\", $tls"; else listen=$tls; fi
  sed -i "s|^  listen: \[\"127.0.0.1:$port\"\]\$|  listen: [$listen]|" "$file"
  grep -q "tls: {cert" "$file" || { echo "bench_edge_tls: no TLS listener in $file" >&2; return 1; }
}

# For the scenario scripts that drive shared/peerbench (live_pollers.sh, zipf.sh): an
# isolated peerbench state under DIR (pid files, rendered configs, origin log) and in
# /dev/shm (caches), so that another peerbench run on the machine is not disturbed, and
# free loopback ports for the origin and the three peers unless already set. Exports
# PB_TMP PB_SHM ORIGIN_PORT NGINX_PORT VARNISH_PORT HLS_EDGE_PORT.
bench_peerbench_env() {
  export PB_TMP=$1/pb PB_SHM=/dev/shm/$(basename "$1")
  mkdir -p "$PB_TMP" "$PB_SHM"
  local v p
  for v in ORIGIN_PORT NGINX_PORT VARNISH_PORT HLS_EDGE_PORT; do
    if [[ -z ${!v:-} ]]; then
      # benches/peer.sh puts the edge's admin listener on PORT + 1000: keep that free too
      until p=$(free_port) && ! (exec 3<>"/dev/tcp/127.0.0.1/$((p + 1000))") 2>/dev/null; do :; done
      export "$v=$p"
    fi
  done
}

# CPU time counters of one CPU from /proc/stat: "busy total" (jiffies).
bench_cpu_ticks() { awk -v c="cpu$1" '$1 == c { print $2+$3+$4+$7+$8, $2+$3+$4+$5+$6+$7+$8 }' /proc/stat; }

# Busy % of a CPU between two bench_cpu_ticks readings.
bench_cpu_busy() { echo "$1 $2" | awk '{ printf "%.0f", ($4 > $2) ? 100 * ($3 - $1) / ($4 - $2) : 0 }'; }

# wrk's latency percentile (ms) from its --latency output in FILE: FIELD is 50% or 99%.
bench_percentile() {
  awk -v p="$2" '$1 == p { v = $2; if (v ~ /us$/) v = v / 1000; else if (v ~ /ms$/) v = v + 0; else if (v ~ /s$/) v = v * 1000; print v }' "$1"
}

# One measured point: wrk -t1 -c$CONNS on URL, pinned to $CLIENT_CPU, for $WARMUP s
# unmeasured, then $DURATION s with its report in OUT. Prints
# "req_s,cpu_us_per_req,p50_ms,p99_ms", the CPU being $SERVER_CPU's busy time; warns on
# stderr, naming LABEL, when wrk saw non-2xx answers or socket errors.
bench_wrk_point() {
  local label=$1 url=$2 out=$3 s0 s1 rps cpu
  timeout $((WARMUP + 10)) taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"$WARMUP" "$url" >/dev/null
  s0=$(bench_cpu_ticks "$SERVER_CPU")
  timeout $((DURATION + 10)) taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"$DURATION" --latency "$url" >"$out"
  s1=$(bench_cpu_ticks "$SERVER_CPU")
  if grep -q "Non-2xx\|Socket errors" "$out"; then
    echo "WARNING: $label: $(grep "Non-2xx\|Socket errors" "$out")" >&2
  fi
  rps=$(awk '/^Requests\/sec:/ { print $2 }' "$out")
  cpu=$(awk -v busy="$(bench_cpu_busy "$s0" "$s1")" -v r="$rps" 'BEGIN { printf "%.1f", busy * 1e4 / r }')
  echo "$rps,$cpu,$(bench_percentile "$out" 50%),$(bench_percentile "$out" 99%)"
}

# The same over HTTP/2 and TLS: h2load -c4 -m32 (4 connections, 32 streams each) on the
# https URL, $WARMUP s unmeasured then $DURATION s. h2load gives no percentiles: the two
# latency fields are its mean and max request time (ms).
bench_h2load_point() {
  local label=$1 url=$2 out=$3 s0 s1 rps cpu
  timeout $((WARMUP + 10)) taskset -c "$CLIENT_CPU" h2load -c4 -m32 -D "$WARMUP" "$url" >/dev/null
  s0=$(bench_cpu_ticks "$SERVER_CPU")
  timeout $((DURATION + 10)) taskset -c "$CLIENT_CPU" h2load -c4 -m32 -D "$DURATION" "$url" >"$out"
  s1=$(bench_cpu_ticks "$SERVER_CPU")
  if ! grep -q "^requests: .* 0 failed, 0 errored, 0 timeout" "$out" ||
    ! awk '/^status codes:/ { exit ($5 + $7 + $9) > 0 }' "$out"; then
    echo "WARNING: $label: $(grep "^requests:\|^status codes:" "$out" | tr '\n' ' ')" >&2
  fi
  rps=$(awk '/^finished in/ { print $4 }' "$out")
  cpu=$(awk -v busy="$(bench_cpu_busy "$s0" "$s1")" -v r="$rps" 'BEGIN { printf "%.1f", busy * 1e4 / r }')
  echo "$rps,$cpu,$(bench_h2load_ms "$out" 6),$(bench_h2load_ms "$out" 5)"
}

# Field F (5: max, 6: mean) of h2load's "time for request:" line in FILE, in ms.
bench_h2load_ms() {
  awk -v f="$2" '/^time for request:/ { v = $f; if (v ~ /us$/) v = v / 1000; else if (v ~ /ms$/) v = v + 0; else if (v ~ /s$/) v = v * 1000; print v }' "$1"
}

# ROUNDS rounds of every scenario of $SCENARIOS on every server named after COLUMN, the
# servers' order rotated each round so that none always goes first. Each run is a
# bench_wrk_point (bench_h2load_point when the caller sets POINT=h2load) on
# ${base[SERVER]}${path[SCENARIO]} (the caller's associative arrays), its report in
# $RESULTS/wrk-ROUND-SCENARIO-SERVER.txt. The CSV
# (round,scenario,COLUMN,req_s,cpu_us_per_req,p50_ms,p99_ms) goes to stdout and to
# $RESULTS/runs.csv. SCRIPT names the caller in warnings.
bench_rotated_rounds() {
  local rounds=$1 script=$2 column=$3 r scen server point
  shift 3
  local order=("$@")
  echo "round,scenario,$column,req_s,cpu_us_per_req,p50_ms,p99_ms" | tee "$RESULTS/runs.csv"
  for ((r = 1; r <= rounds; r++)); do
    for scen in $SCENARIOS; do
      for server in "${order[@]}"; do
        point=$("bench_${POINT:-wrk}_point" "$script: $server $scen" "${base[$server]}${path[$scen]}" \
          "$RESULTS/wrk-$r-$scen-$server.txt")
        echo "$r,$scen,$server,$point" | tee -a "$RESULTS/runs.csv"
      done
    done
    order=("${order[@]:1}" "${order[0]}")
  done
}

# For the scripts that run hls-edge beside peerbench's peers, with PEERBENCH and PEERS set:
# exports HLS_EDGE_ROOT and HLS_EDGE_BIN (this checkout's release build unless set; made
# absolute) and exits with a message naming SCRIPT if peerbench is missing or, when PEERS
# includes hls-edge, the edge is not built.
bench_peers_ready() {
  local script=$1 root
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  export HLS_EDGE_ROOT=${HLS_EDGE_ROOT:-$root}
  export HLS_EDGE_BIN=${HLS_EDGE_BIN:-$root/target/release/hls-edge}
  [[ -x $PEERBENCH/peers.sh ]] || { echo "$script: no peerbench at $PEERBENCH (set PEERBENCH)" >&2; exit 1; }
  [[ " $PEERS " != *" hls-edge "* || -x $HLS_EDGE_BIN ]] ||
    { echo "$script: $HLS_EDGE_BIN missing: run cargo build --release" >&2; exit 1; }
  # peerbench runs its peers from its own directory
  [[ ! -e $HLS_EDGE_BIN ]] || HLS_EDGE_BIN=$(realpath "$HLS_EDGE_BIN")
}
