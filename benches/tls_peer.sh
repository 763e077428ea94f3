#!/usr/bin/env bash
# Cache hits over TLS, hls-edge beside nginx proxy_cache with the same certificate:
#   benches/tls_peer.sh [ROUNDS]              (default 3; build first: cargo build --release)
# Env: HLS_EDGE_BIN (default target/release/hls-edge), PLAYLIST_REQUESTS (20000),
# SEGMENT_REQUESTS (3000), SERVER_CPU (0), CLIENT_CPU (1), NGINX_CONF (the nginx peer
# template, default ../shared/peerbench/conf/nginx-peer.conf; copied, never modified),
# FLOOR_BIN (if set: Pingora's floor, benches/pingora_floor.rs built by cargo bench
# --bench pingora_floor --no-run, runs as a third proxy "floor" on the same certificate:
# what any Pingora proxy pays per request over TLS, no cache, the ratios to nginx printed too),
# PERF_DIR (if set: a perf cpu-clock profile of the proxy during every measured run,
# kept there with a report by DSO and symbol; sampling adds a little to the CPU figures;
# perf summaries by DSO: perf report -i PERF_DIR/NAME.data --stdio --sort dso).
# Starts a static origin (python3 http.server) with the 1 KB VOD playlist and the 750 KB
# segment, one self-signed ECDSA P-256 certificate (conf/tls/selfsigned.sh), and two proxies
# on TLS with that certificate and key, both offering h2 and http/1.1 by ALPN, both pinned
# to SERVER_CPU:
#   hls-edge: the config of benches/peer.sh (one worker thread) with a TLS listener;
#   nginx:    the peerbench nginx peer (1 worker, proxy_cache on tmpfs) with
#             "listen ... ssl http2" and TLS 1.2/1.3 (nginx 1.22 leaves TLS 1.3 off otherwise).
# Warms both objects on both, then per round, object and protocol runs h2load pinned to
# CLIENT_CPU against each proxy in turn (the order flips every round):
#   h2:        h2load -c 4 -m 32        (4 connections, 32 streams each)
#   h1 (TLS):  h2load --h1 -c 64        (64 connections, one request at a time)
# each after a discarded warm-up of a tenth of the requests. Prints one CSV line a run,
#   round,proxy,object,proto,requests,req_s,mb_s,cpu_us_per_req,proxy_busy,server_cpu_busy,client_cpu_busy,ok,failed,errored,timeout,non_2xx,alpn,cipher
# (cpu_us_per_req: the proxy's own CPU time from /proc, all its threads and processes,
# per request; proxy_busy: that time over the run's wall time, 1.00 = the whole core;
# *_cpu_busy: share of that CPU busy with anything, the proxy and h2load included), then the
# medians per proxy/object/protocol and the ratios hls-edge/nginx. Loopback only; every
# h2load run is bounded by timeout; everything it started is stopped by PID on exit.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/benches/lib.sh"
bin=${HLS_EDGE_BIN:-$root/target/release/hls-edge}
rounds=${1:-3}
n_playlist=${PLAYLIST_REQUESTS:-20000}
n_segment=${SEGMENT_REQUESTS:-3000}
server_cpu=${SERVER_CPU:-0}
client_cpu=${CLIENT_CPU:-1}
nginx_template=${NGINX_CONF:-$root/../shared/peerbench/conf/nginx-peer.conf}
for tool in h2load nginx taskset curl python3; do
  command -v "$tool" >/dev/null || { echo "tls_peer.sh: $tool missing (.ci/setup installs it)" >&2; exit 1; }
done
[[ -x $bin ]] || { echo "tls_peer.sh: $bin missing: run cargo build --release" >&2; exit 1; }
[[ -z ${PERF_DIR:-} ]] || { command -v perf >/dev/null && mkdir -p "$PERF_DIR"; } ||
  { echo "tls_peer.sh: PERF_DIR set but perf missing (apt-get install linux-perf)" >&2; exit 1; }
[[ -r $nginx_template ]] || { echo "tls_peer.sh: $nginx_template missing (set NGINX_CONF)" >&2; exit 1; }

dir=$(mktemp -d /tmp/hls-edge-tlspeer.XXXXXX)
shm=$(mktemp -d /dev/shm/hls-edge-tlspeer.XXXXXX)
chmod 755 "$dir" "$shm" # nginx's workers run as nobody when started by root
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$dir" "$shm"
}
trap cleanup EXIT

origin_port=$(free_port); edge_port=$(free_port); admin_port=$(free_port); nginx_port=$(free_port)
floor_port=$(free_port)
proxies=(hls-edge nginx)
[[ -z ${FLOOR_BIN:-} ]] || proxies+=(floor)
bench_media "$dir/media"
bench_origin "$dir/media" "$origin_port"
pids+=("$bench_origin_pid")
taskset -pc "$client_cpu" "$bench_origin_pid" >/dev/null
"$root/conf/tls/selfsigned.sh" "$dir/tls" >/dev/null
crt=$dir/tls/edge.crt key=$dir/tls/edge.key

# hls-edge: benches/peer.sh's config, its one listener on TLS.
bench_edge_config "$edge_port" "$origin_port" "$admin_port" >"$dir/edge.yaml"
bench_edge_tls "$dir/edge.yaml" "$edge_port" "$crt" "$key"
taskset -c "$server_cpu" "$bin" -c "$dir/edge.yaml" >"$dir/edge.log" 2>&1 &
edge_pid=$!
pids+=("$edge_pid")

# nginx: the peerbench peer, rendered into $dir/nginx, its listener on TLS with HTTP/2.
mkdir -p "$dir/nginx"
sed -e "s|@RUN@|$dir/nginx|g" -e "s|@PB_SHM@|$shm|g" -e "s|@ORIGIN_PORT@|$origin_port|g" \
  -e "s|^\( *\)listen 127.0.0.1:@PORT@ backlog=4096;|\1listen 127.0.0.1:$nginx_port ssl http2 backlog=4096;\n\1ssl_certificate $crt;\n\1ssl_certificate_key $key;\n\1ssl_protocols TLSv1.2 TLSv1.3;|" \
  "$nginx_template" >"$dir/nginx/nginx.conf"
grep -q "ssl http2" "$dir/nginx/nginx.conf" || { echo "tls_peer.sh: listen line not found in $nginx_template" >&2; exit 1; }
taskset -c "$server_cpu" nginx -p "$dir/nginx" -c "$dir/nginx/nginx.conf" -g "daemon off;" \
  >"$dir/nginx.log" 2>&1 &
nginx_pid=$!
pids+=("$nginx_pid")

# the floor: the segment it serves is the origin's size, so both objects match in bytes
if [[ -n ${FLOOR_BIN:-} ]]; then
  taskset -c "$server_cpu" "$FLOOR_BIN" --listen "127.0.0.1:$floor_port" --tls "$crt" "$key" \
    --segment-bytes "$(stat -c %s "$dir/media/hls/v/seg_00010.ts")" >"$dir/floor.log" 2>&1 &
  floor_pid=$!
  pids+=("$floor_pid")
fi

url() { # PROXY PATH
  case $1 in
  hls-edge) echo "https://127.0.0.1:$edge_port$2" ;;
  nginx) echo "https://127.0.0.1:$nginx_port$2" ;;
  floor) echo "https://127.0.0.1:$floor_port$2" ;;
  esac
}
ready() { # PROXY
  for _ in $(seq 100); do
    curl -s --cacert "$crt" -o /dev/null "$(url "$1" /hls/v/index.m3u8)" && return 0
    sleep 0.1
  done
  echo "tls_peer.sh: $1 did not answer on TLS" >&2
  cat "$dir/edge.log" "$dir/nginx.log" "$dir/nginx/error.log" 2>/dev/null >&2
  return 1
}
objects=(playlist segment)
declare -A path=([playlist]=/hls/v/index.m3u8 [segment]=/hls/v/seg_00010.ts)
declare -A requests=([playlist]=$n_playlist [segment]=$n_segment)
for proxy in "${proxies[@]}"; do
  ready "$proxy"
  for obj in "${objects[@]}"; do # warm: the first request fills, the second is a hit
    for _ in 1 2; do
      curl -sf --http2 --cacert "$crt" -o "$dir/body" "$(url "$proxy" "${path[$obj]}")"
    done
    if [[ $proxy == floor ]]; then # the floor's bytes are its own; only their number matches
      [[ $(stat -c %s "$dir/body") == "$(stat -c %s "$dir/media${path[$obj]}")" || $obj == playlist ]] ||
        { echo "tls_peer.sh: the floor served a $obj of another size" >&2; exit 1; }
    else
      cmp -s "$dir/body" "$dir/media${path[$obj]}" || { echo "tls_peer.sh: $proxy served a different $obj" >&2; exit 1; }
    fi
  done
  curl -s --http2 --cacert "$crt" -o /dev/null -D - "$(url "$proxy" "${path[playlist]}")" |
    sed "s/^/# $proxy playlist hit: /" | tr -d '\r' >&2
done

# "TID NS" for every thread of PID and of its child processes (nginx's worker, cache
# manager and loader): the CPU time each has run, from schedstat.
proxy_threads() {
  local p t ns
  for p in "$1" $(pgrep -P "$1" || true); do
    for t in /proc/"$p"/task/*; do
      read -r ns _ 2>/dev/null <"$t/schedstat" && echo "${t##*/} $ns"
    done
  done
}
# PID and its child processes, comma-separated (for perf -p).
proxy_pids() { local p=$1 c; for c in $(pgrep -P "$1" || true); do p+=",$c"; done; echo "$p"; }
# CPU ns spent between two proxy_threads snapshots (threads gone by the second are left out).
cpu_delta_ns() { awk 'NR == FNR { a[$1] = $2; next } { d += $2 - a[$1] } END { print d + 0 }' "$1" "$2"; }
# "busy total" jiffies of CPU N from /proc/stat (busy excludes idle and iowait).
cpu_jiffies() { awk -v c="cpu$1" '$1 == c { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t }' /proc/stat; }

# ROUND PROXY OBJECT PROTO -> one CSV line
run() {
  local round=$1 proxy=$2 obj=$3 proto=$4 n=${requests[$3]} args pid out s0 s1 c0 c1 t0 t1
  case $proto in h2) args=(-c 4 -m 32) ;; h1) args=(--h1 -c 64) ;; esac
  case $proxy in hls-edge) pid=$edge_pid ;; nginx) pid=$nginx_pid ;; floor) pid=$floor_pid ;; esac
  local target
  target=$(url "$proxy" "${path[$obj]}")
  timeout 60 taskset -c "$client_cpu" h2load -n $((n / 10)) "${args[@]}" "$target" >/dev/null 2>&1 || true
  local name=r$round-$proxy-$obj-$proto perf_pid=
  if [[ -n ${PERF_DIR:-} ]]; then
    taskset -c "$client_cpu" perf record -q -N -e cpu-clock -F 999 -p "$(proxy_pids "$pid")" \
      -o "$PERF_DIR/$name.data" >/dev/null 2>&1 &
    perf_pid=$! # ends by itself too when the proxy does
    sleep 0.3
  fi
  proxy_threads "$pid" >"$dir/cpu0"; s0=$(cpu_jiffies "$server_cpu"); c0=$(cpu_jiffies "$client_cpu")
  t0=$(date +%s%N)
  out=$(timeout 120 taskset -c "$client_cpu" h2load -n "$n" "${args[@]}" "$target" 2>&1) || true
  t1=$(date +%s%N)
  proxy_threads "$pid" >"$dir/cpu1"; s1=$(cpu_jiffies "$server_cpu"); c1=$(cpu_jiffies "$client_cpu")
  if [[ -n $perf_pid ]]; then
    kill -INT "$perf_pid" 2>/dev/null || true
    wait "$perf_pid" 2>/dev/null || true
    perf report -i "$PERF_DIR/$name.data" --stdio --sort dso,sym 2>/dev/null | grep -v '^#' | grep . |
      head -40 >"$PERF_DIR/$name.txt" || true
  fi
  awk -v r="$round" -v p="$proxy" -v o="$obj" -v pr="$proto" -v cpu="$(cpu_delta_ns "$dir/cpu0" "$dir/cpu1")" -v wall=$((t1 - t0)) \
    -v s="$s0 $s1" -v c="$c0 $c1" '
    function busy(x,  a) { split(x, a, " "); return a[4] > a[2] ? (a[3] - a[1]) / (a[4] - a[2]) : 0 }
    /^finished in/ { # "finished in 1.2s, 16260.16 req/s, 15.13MB/s" (B, KB, MB or GB)
      rps = $4; mbs = $6; unit = mbs; sub(/^[0-9.]+/, "", unit); sub(/[A-Z]*B\/s$/, "", mbs)
      mbs *= (unit ~ /^GB/ ? 1000 : unit ~ /^MB/ ? 1 : unit ~ /^KB/ ? 0.001 : 0.000001)
    }
    /^requests:/ { for (i = 2; i < NF; i += 2) { k = $(i + 1); gsub(/,/, "", k); v[k] = $i } }
    /^status codes:/ { non2xx = $5 + $7 + $9 }
    /^Application protocol:/ { alpn = $3 }
    /^Cipher:/ { cipher = $2 }
    END {
      n = v["done"] + 0
      printf "%s,%s,%s,%s,%d,%.0f,%.1f,%.1f,%.2f,%.2f,%.2f,%d,%d,%d,%d,%d,%s,%s\n", r, p, o, pr, n, rps,
        mbs, n ? cpu / 1000 / n : 0, cpu / wall, busy(s), busy(c), v["succeeded"], v["failed"], v["errored"],
        v["timeout"], non2xx, alpn, cipher
    }' <<<"$out"
}

echo "# $("$bin" --version 2>/dev/null || echo hls-edge) | $(nginx -v 2>&1) | $(h2load --version | head -1) | $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "round,proxy,object,proto,requests,req_s,mb_s,cpu_us_per_req,proxy_busy,server_cpu_busy,client_cpu_busy,ok,failed,errored,timeout,non_2xx,alpn,cipher" |
  tee "$dir/runs.csv"
for round in $(seq "$rounds"); do
  order=("${proxies[@]}")
  ((round % 2 == 0)) && order=($(printf '%s\n' "${proxies[@]}" | tac))
  for obj in "${objects[@]}"; do
    for proto in h2 h1; do
      for proxy in "${order[@]}"; do
        run "$round" "$proxy" "$obj" "$proto" | tee -a "$dir/runs.csv"
      done
    done
  done
done
python3 - "$dir/runs.csv" <<'PY'
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
bad = [r for r in rows if int(r["ok"]) != int(r["requests"]) or int(r["requests"]) == 0
       or int(r["failed"]) + int(r["errored"]) + int(r["timeout"]) + int(r["non_2xx"])]
med = lambda sel, k: statistics.median(float(r[k]) for r in sel)
print("# medians: object,proto,proxy,req_s (min-max),cpu_us_per_req (min-max),proxy_busy,server_cpu_busy,client_cpu_busy")
for obj in ("playlist", "segment"):
    for proto in ("h2", "h1"):
        m = {}
        for proxy in ("hls-edge", "nginx", "floor"):
            sel = [r for r in rows if (r["object"], r["proto"], r["proxy"]) == (obj, proto, proxy)]
            if not sel:
                continue
            lo = lambda k: min(float(r[k]) for r in sel)
            hi = lambda k: max(float(r[k]) for r in sel)
            m[proxy] = (med(sel, "req_s"), med(sel, "cpu_us_per_req"))
            print(f"# {obj},{proto},{proxy},{m[proxy][0]:.0f} ({lo('req_s'):.0f}-{hi('req_s'):.0f}),"
                  f"{m[proxy][1]:.1f} ({lo('cpu_us_per_req'):.1f}-{hi('cpu_us_per_req'):.1f}),"
                  f"{med(sel, 'proxy_busy'):.2f},{med(sel, 'server_cpu_busy'):.2f},{med(sel, 'client_cpu_busy'):.2f}")
        for proxy in ("hls-edge", "floor"):
            if proxy in m and "nginx" in m and m["nginx"][0] and m["nginx"][1]:
                print(f"# {obj},{proto},{proxy}/nginx: req_s {m[proxy][0] / m['nginx'][0]:.2f}, "
                      f"cpu_us_per_req {m[proxy][1] / m['nginx'][1]:.2f}")
print(f"# runs with a failed, errored, timed-out or non-2xx request, or fewer answers than sent: {len(bad)}")
for r in bad:
    print("#   " + ",".join(r.values()))
PY
