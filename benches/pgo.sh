#!/usr/bin/env bash
# A release build of the edge optimised with a profile of its own hit and miss paths
# (profile-guided optimisation, rustc -Cprofile-generate / -Cprofile-use):
#   benches/pgo.sh              (about 15 minutes: two release builds and 40 s of load)
# Prints the path of the optimised binary last (target/pgo/HOST/release/hls-edge, HOST the
# toolchain's host triple, e.g. x86_64-unknown-linux-gnu).
# 1. builds the edge instrumented (target/pgo-train) and starts it with the config of
#    benches/peer.sh plus a TLS listener (conf/tls/selfsigned.sh), in front of a static
#    origin (python3 http.server, lib.sh's 1 KB playlist, 750 KB segment, and 404s);
# 2. trains it as players use an edge: cold misses, then hits of the playlist and the
#    segment over HTTP/1.1 (wrk), over HTTP/2 and HTTP/1.1 on TLS (h2load), HEAD,
#    ranges, conditional GETs and 404s (curl); stops it so that it writes its profile;
# 3. merges the profile (llvm-profdata of the toolchain's llvm-tools component, added
#    with rustup if missing) and builds the edge again with it.
# The profile only guides the compiler's layout and inlining: the binary does what the
# plain release build does (every test of the suite is the same for both).
# Env: PGO_DIR (target/pgo: profiles and the optimised build), TRAIN_SECONDS (5 per load).
# Loopback only; everything it started is stopped on exit, by PID.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/benches/lib.sh"
cd "$root"
out=${PGO_DIR:-$root/target/pgo}
secs=${TRAIN_SECONDS:-5}
for tool in wrk h2load curl; do
  command -v "$tool" >/dev/null || { echo "pgo.sh: $tool missing (.ci/setup installs it)" >&2; exit 1; }
done

sysroot=$(rustc --print sysroot)
host=$(rustc -vV | sed -n 's/^host: //p')
profdata=$sysroot/lib/rustlib/$host/bin/llvm-profdata
if [[ ! -x $profdata ]]; then
  rustup component add llvm-tools >&2
fi
[[ -x $profdata ]] || { echo "pgo.sh: $profdata missing (rustup component add llvm-tools)" >&2; exit 1; }

rm -rf "$out/profiles"
mkdir -p "$out/profiles"
echo "pgo.sh: building the instrumented edge" >&2
# --target: RUSTFLAGS then reach the edge's own code and its dependencies, not the build
# scripts and procedural macros that run while it is built
RUSTFLAGS="-Cprofile-generate=$out/profiles" \
  cargo build --release --target "$host" --target-dir "$root/target/pgo-train" --bin hls-edge >&2
trained=$root/target/pgo-train/$host/release/hls-edge

dir=$(mktemp -d /tmp/hls-edge-pgo.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
origin_port=$(free_port) port=$(free_port) tls_port=$(free_port) admin_port=$(free_port)
bench_media "$dir/media"
head -c 300000 /dev/urandom >"$dir/media/hls/v/seg_00011.ts"
bench_origin "$dir/media" "$origin_port"
pids+=("$bench_origin_pid")
"$root/conf/tls/selfsigned.sh" "$dir/tls" >/dev/null
bench_edge_config "$port" "$origin_port" "$admin_port" >"$dir/edge.yaml"
bench_edge_tls "$dir/edge.yaml" "$port" "$dir/tls/edge.crt" "$dir/tls/edge.key" "$tls_port"
"$trained" -c "$dir/edge.yaml" >"$dir/edge.log" 2>&1 &
edge=$!
pids+=("$edge")
ready=
for _ in $(seq 300); do
  curl -sf -o /dev/null "http://127.0.0.1:$port/hls/v/index.m3u8" && ready=1 && break
  kill -0 "$edge" 2>/dev/null || { cat "$dir/edge.log" >&2; exit 1; }
  sleep 0.1
done
[[ -n $ready ]] || { echo "pgo.sh: the instrumented edge did not answer in 30 s" >&2; exit 1; }

echo "pgo.sh: training (about $((secs * 7)) s)" >&2
http=http://127.0.0.1:$port/hls/v https=https://127.0.0.1:$tls_port/hls/v
for object in seg_00010.ts seg_00011.ts index.m3u8; do   # misses, then hits
  curl -sf -o /dev/null "$http/$object"
  curl -sf -o /dev/null "$http/$object"
done
for _ in $(seq 50); do
  curl -s -o /dev/null "$http/seg_00099.ts"                     # 404, never stored
  curl -s -o /dev/null -I "$http/seg_00010.ts"                  # HEAD
  curl -s -o /dev/null -r 0-65535 "$http/seg_00010.ts"          # a range
  curl -s -o /dev/null -H 'If-None-Match: "x"' "$http/index.m3u8"
  curl -s -o /dev/null "$http/index.m3u8?hdnts=x&CMCD=bl%3D100" # query parameters
done
wrk -t1 -c64 -d"${secs}s" "$http/index.m3u8" >/dev/null
wrk -t1 -c64 -d"${secs}s" "$http/seg_00010.ts" >/dev/null
wrk -t1 -c16 -d"${secs}s" "$http/seg_00011.ts" >/dev/null
h2load -D "$secs" -c 4 -m 32 "$https/index.m3u8" >/dev/null
h2load -D "$secs" -c 4 -m 32 "$https/seg_00010.ts" >/dev/null
h2load --h1 -D "$secs" -c 64 "$https/index.m3u8" >/dev/null
h2load --h1 -D "$secs" -c 16 "$https/seg_00010.ts" >/dev/null
kill -TERM "$edge"
wait "$edge" 2>/dev/null || true
ls "$out"/profiles/*.profraw >/dev/null 2>&1 || { echo "pgo.sh: the trained edge wrote no profile" >&2; exit 1; }
"$profdata" merge -o "$out/merged.profdata" "$out"/profiles/*.profraw

echo "pgo.sh: building the optimised edge" >&2
RUSTFLAGS="-Cprofile-use=$out/merged.profdata" \
  cargo build --release --target "$host" --target-dir "$out" --bin hls-edge >&2
echo "$out/$host/release/hls-edge"
