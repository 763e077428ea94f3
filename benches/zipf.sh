#!/usr/bin/env bash
# A Zipf mix over more segments than the cache holds, through nginx, Varnish and hls-edge
# side by side, each given the same cache memory:
#   benches/zipf.sh            (from the repository root; build first with
#                               cargo build --release, or set HLS_EDGE_BIN)
# OBJECTS segment files (about OBJECT_KB each, 0.5-1.5x, 400 MB in all by default) served by
# peerbench's nginx origin, which logs every request with its body bytes. The peers run from
# a copy of shared/peerbench whose caches are bounded to CACHE_MB MiB: nginx
# proxy_cache_path max_size, Varnish -s malloc, hls-edge cache.max_size (the config of
# benches/peer.sh otherwise). Per round and peer: cold start (CPU 0), a warm-up trace of
# REQUESTS Zipf(s = ZIPF_S) requests, then a measured trace of as many (another seed), each
# sent once in order by wrk -t1 -cCONNS (CPU 1, with the origin). Prints per run and as
# medians: the measured trace's request hit ratio and byte hit ratio (from the origin log:
# fetches and body bytes from the origin against requests and bytes asked for), req/s,
# p50/p99 and what each cache held at the end and at most (sampled every 0.5 s); and what a
# plain LRU of CACHE_MB would hit.
# Env: PEERS ("nginx varnish hls-edge"), ROUNDS (1), OBJECTS (2000), OBJECT_KB (200),
#   CACHE_MB (128), REQUESTS (20000), CONNS (64), ZIPF_S (1.0), SEED (15), PEERBENCH
#   (../shared/peerbench), HLS_EDGE_BIN, MEDIA_DIR (/tmp/hls-edge-bench/zipf-media-...,
#   kept for the next run), RESULTS (/tmp/hls-edge-bench/zipf-TIMESTAMP), ORIGIN_PORT,
#   NGINX_PORT, VARNISH_PORT, HLS_EDGE_PORT (free loopback ports by default).
# Under a minute per peer and round. Loopback only; everything it started is stopped on
# exit, by PID.
#   benches/zipf.sh edge PORT ORIGIN_PORT   (used by the copy's hls-edge peer) execs the edge
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/benches/lib.sh"
export HLS_EDGE_BIN=${HLS_EDGE_BIN:-$root/target/release/hls-edge}
CACHE_MB=${CACHE_MB:-128}
if [[ ${1:-} == edge ]]; then
  dir=${PB_TMP:-/tmp}/peer-hls-edge
  mkdir -p "$dir"
  bench_edge_config "$2" "$3" "$(($2 + 1000))" |
    sed -e "s/^  max_size: 1GiB$/  max_size: ${CACHE_MB}MiB/" \
      -e "s/^  max_object_size: 64MiB$/  max_object_size: $((CACHE_MB < 128 ? CACHE_MB / 2 : 64))MiB/" >"$dir/edge.yaml"
  grep -q "max_size: ${CACHE_MB}MiB" "$dir/edge.yaml" || { echo "zipf.sh: cache size not set" >&2; exit 1; }
  exec "$HLS_EDGE_BIN" -c "$dir/edge.yaml"
fi

PEERBENCH=$(cd "${PEERBENCH:-$root/../shared/peerbench}" && pwd)
PEERS=${PEERS:-nginx varnish hls-edge} ROUNDS=${ROUNDS:-1} OBJECTS=${OBJECTS:-2000}
OBJECT_KB=${OBJECT_KB:-200} REQUESTS=${REQUESTS:-20000} CONNS=${CONNS:-64}
ZIPF_S=${ZIPF_S:-1.0} SEED=${SEED:-15}
[[ -x $PEERBENCH/peers.sh ]] || { echo "zipf.sh: no peerbench at $PEERBENCH (set PEERBENCH)" >&2; exit 1; }
[[ " $PEERS " != *" hls-edge "* || -x $HLS_EDGE_BIN ]] ||
  { echo "zipf.sh: $HLS_EDGE_BIN missing: run cargo build --release" >&2; exit 1; }
RESULTS=${RESULTS:-/tmp/hls-edge-bench/zipf-$(date +%Y%m%d-%H%M%S)}
export MEDIA_DIR=${MEDIA_DIR:-/tmp/hls-edge-bench/zipf-media-$OBJECTS-$OBJECT_KB}
mkdir -p "$RESULTS"
bench_peerbench_env "$RESULTS"
export SERVER_CPU=${SERVER_CPU:-0} CLIENT_CPU=${CLIENT_CPU:-1} ORIGIN_LOG=$PB_TMP/origin/access.log
py=$root/benches/zipf.py

# peerbench's peers with the cache bounded to CACHE_MB (a copy: shared/ stays as it is)
pb=$RESULTS/peerbench
cp -r "$PEERBENCH/." "$pb"
sed -i "s/max_size=2g/max_size=${CACHE_MB}m/" "$pb/conf/nginx-peer.conf"
sed -i "s/-s malloc,1G/-s malloc,${CACHE_MB}m/" "$pb/peers/varnish.sh"
cat >"$pb/peers/hls-edge.sh" <<EOF
#!/usr/bin/env bash
# Peer "hls-edge" with cache.max_size ${CACHE_MB}MiB (benches/zipf.sh edge).
set -euo pipefail
source "\$(dirname "\$0")/../lib.sh"
PORT=\${HLS_EDGE_PORT:-18083}
case \${1:-} in
port) echo "\$PORT" ;;
run) exec "$root/benches/zipf.sh" edge "\$PORT" "\$ORIGIN_PORT" ;;
esac
EOF
grep -q "max_size=${CACHE_MB}m " "$pb/conf/nginx-peer.conf" && grep -q "malloc,${CACHE_MB}m " "$pb/peers/varnish.sh" ||
  { echo "zipf.sh: could not bound the peers' caches in the peerbench copy" >&2; exit 1; }
sampler=
cleanup() {
  [[ -z $sampler ]] || kill "$sampler" 2>/dev/null || true
  "$pb/peers.sh" stop $PEERS || true; "$pb/origin.sh" stop || true; rm -rf "$PB_SHM"
}
trap cleanup EXIT

echo "== media: $OBJECTS objects of ~$OBJECT_KB KB in $MEDIA_DIR"
python3 "$py" media "$MEDIA_DIR" "$OBJECTS" "$OBJECT_KB"
python3 "$py" trace "$MEDIA_DIR" "$ZIPF_S" "$SEED" "$REQUESTS" "$RESULTS/warm.txt"
python3 "$py" trace "$MEDIA_DIR" "$ZIPF_S" "$((SEED + 1))" "$REQUESTS" "$RESULTS/measured.txt"
python3 "$py" lru "$MEDIA_DIR" "$CACHE_MB" "$RESULTS/warm.txt" "$RESULTS/measured.txt" | tee "$RESULTS/lru.txt"
"$pb/origin.sh" start
{ uname -srm; echo "cpus $(nproc)"; python3 --version; "$HLS_EDGE_BIN" --version 2>&1 | head -1
  dpkg-query -W -f='${Package} ${Version}\n' nginx varnish wrk 2>/dev/null; } >"$RESULTS/versions.txt" || true

# held NAME: bytes the peer's cache holds now (nginx: its cache files, whose max_size its
# cache manager enforces only every few seconds; Varnish: the malloc store and Transient;
# hls-edge: what its cache counts plus the slack and the spare of its sheets, memory it holds
# uncounted)
held() {
  case $1 in
  nginx) du -sb "$PB_SHM/nginx-cache" | cut -f1 ;;
  varnish) varnishstat -n "$PB_SHM/varnish" -1 -f SMA.s0.g_bytes -f SMA.Transient.g_bytes | awk '{ s += $2 } END { print s }' ;;
  hls-edge) curl -sf "http://127.0.0.1:$((HLS_EDGE_PORT + 1000))/metrics" |
    awk '$1 == "hls_edge_cache_bytes" || $1 == "hls_edge_sealed_sheet_bytes{part=\"slack\"}" ||
      $1 == "hls_edge_sealed_sheet_bytes{part=\"spare\"}" { s += $2 }
      END { printf "%d\n", s }' ;;
  *) echo 0 ;;
  esac
}
# send TRACE: wrk sends each path of TRACE once, in order; prints its RESULT line
send() {
  ZIPF_PATHS=$1 ZIPF_CONNS=$CONNS timeout 600 taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d590s --timeout 10s \
    -s "$root/benches/zipf.lua" "http://127.0.0.1:$port/" | tee -a "$RESULTS/wrk.log" | grep '^RESULT'
}

echo "== Zipf s=$ZIPF_S, $REQUESTS requests warm-up + $REQUESTS measured, wrk -t1 -c$CONNS, cache ${CACHE_MB} MiB each, rounds: $ROUNDS -> $RESULTS"
cols=name,requests,origin_fetches,req_hit_ratio,bytes_served,origin_bytes,byte_hit_ratio,req_s,mb_s,p50_ms,p99_ms,non2xx,socket_errors,cache_held_mb,cache_peak_mb,warmup_req_hit_ratio,server_cpu_pct,client_cpu_pct
echo "round,$cols" | tee "$RESULTS/runs.csv"
for ((r = 1; r <= ROUNDS; r++)); do
  for name in $PEERS; do
    "$pb/peers.sh" start "$name" >>"$RESULTS/peers.log"
    port=$("$pb/peers/$name.sh" port)
    mark=$(($(wc -l <"$ORIGIN_LOG") + 1))
    (while :; do held "$name"; sleep 0.5; done) >"$RESULTS/held-$r-$name.txt" 2>/dev/null &
    sampler=$!
    echo "== $r $name warm-up $(date +%T)" >>"$RESULTS/wrk.log"
    send "$RESULTS/warm.txt" >/dev/null
    sleep 1
    warm=$(python3 "$py" report "$MEDIA_DIR" "$RESULTS/warm.txt" "$ORIGIN_LOG" "$mark" | cut -d, -f3)
    mark=$(($(wc -l <"$ORIGIN_LOG") + 1))
    s0=$(bench_cpu_ticks "$SERVER_CPU") c0=$(bench_cpu_ticks "$CLIENT_CPU")
    echo "== $r $name measured $(date +%T)" >>"$RESULTS/wrk.log"
    read -r _ _ _ rps mbs p50 p99 bad errs <<<"$(send "$RESULTS/measured.txt")"
    s1=$(bench_cpu_ticks "$SERVER_CPU") c1=$(bench_cpu_ticks "$CLIENT_CPU")
    sleep 1                             # requests still in flight when wrk stopped reach the origin
    ratios=$(python3 "$py" report "$MEDIA_DIR" "$RESULTS/measured.txt" "$ORIGIN_LOG" "$mark")
    kill "$sampler"; wait "$sampler" 2>/dev/null || true; sampler=
    mb=$(awk -v b="$(held "$name")" 'BEGIN { printf "%.1f", b / 1048576 }')
    peak=$(sort -n "$RESULTS/held-$r-$name.txt" | awk -v b="$(held "$name")" 'END { printf "%.1f", ($1 > b ? $1 : b) / 1048576 }')
    echo "$r,$name,$ratios,$rps,$mbs,$p50,$p99,$bad,$errs,$mb,$peak,$warm,$(bench_cpu_busy "$s0" "$s1"),$(bench_cpu_busy "$c0" "$c1")" |
      tee -a "$RESULTS/runs.csv"
    "$pb/peers.sh" stop "$name"
  done
done
cp "$ORIGIN_LOG" "$RESULTS/origin.log"

echo "== medians over $ROUNDS round(s) -> $RESULTS/summary.csv"
python3 - "$RESULTS/runs.csv" <<'PY' | tee "$RESULTS/summary.csv"
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
cols = [c for c in rows[0] if c not in ("round", "name")]
print("name,rounds," + ",".join(cols))
for name in dict.fromkeys(r["name"] for r in rows):
    got = [r for r in rows if r["name"] == name]
    print(f"{name},{len(got)}," + ",".join(f"{statistics.median(float(r[c]) for r in got):.6g}" for c in cols))
PY
cat "$RESULTS/lru.txt"
