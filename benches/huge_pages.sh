#!/usr/bin/env bash
# Stored segments sent with sendfile from 4 KiB pages or from 2 MiB pages, beside nginx
# and Varnish in the same rounds:
#   benches/huge_pages.sh        (from the repository root, as root; build first with
#                                 benches/pgo.sh or cargo build --release, or set HLS_EDGE_BIN)
# peerbench's load (hot, cycle, playlist; wrk -c64 pinned to CPU 1, the peer to CPU 0) over
# 6-second segments, the common length in production (720p at 6 Mbit/s, about 4.7 MB;
# 360p at 3 Mbit/s, about 2.5 MB; 40 segments, 138 MB), made once with ffmpeg, or over
# peerbench's own 2-second segments (270-850 KB, packed into the edge's 4 MiB sheets) with
# MEDIA=peerbench. The edge runs three times per round: with the host's huge pages for
# shared memory (/sys/kernel/mm/transparent_hugepage/shmem_enabled) at `deny`, which
# refuses the edge's requests for huge pages (MADV_COLLAPSE) so its files keep 4 KiB pages,
# then at `never`, the kernel's default, under which the edge gives every whole 2 MiB of
# its files one page itself; a third edge copies its segments into the socket
# (`cache.sendfile: false`), as Varnish does. nginx's cache files live in a tmpfs mount with
# its own option, Varnish's in malloc; both run with the setting at `never`. The host's
# setting is put back on exit.
# Prints load.csv (peerbench's columns; the edge's name says which pages) and the medians;
# CPU per request, ShmemHugePages after each load and the edge's count of 2 MiB runs given
# a huge page (hls_edge_sealed_huge_runs_total) are in load.log.
# Env: ROUNDS (3), MEDIA (6s or peerbench), PEERBENCH (../shared/peerbench), HLS_EDGE_BIN,
#   MEDIA_DIR (/tmp/hls-edge-bench/media-6s), RESULTS (/tmp/hls-edge-bench/huge-pages-TIMESTAMP).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/benches/lib.sh"
PEERBENCH=$(cd "${PEERBENCH:-$root/../shared/peerbench}" && pwd)
ROUNDS=${ROUNDS:-3} PEERS="nginx varnish hls-edge"
setting=/sys/kernel/mm/transparent_hugepage/shmem_enabled
[[ -w $setting ]] || { echo "huge_pages.sh: $setting is not writable here (run as root)" >&2; exit 1; }
grep -q deny "$setting" || { echo "huge_pages.sh: this kernel offers no deny" >&2; exit 1; }
bench_peers_ready huge_pages.sh
RESULTS=${RESULTS:-/tmp/hls-edge-bench/huge-pages-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$RESULTS"
bench_peerbench_env "$RESULTS"
case ${MEDIA:-6s} in
6s) export MEDIA_DIR=${MEDIA_DIR:-/tmp/hls-edge-bench/media-6s} HOT=/720p/seg_00010.ts PLAYLIST=/720p/index.m3u8 ;;
peerbench) export MEDIA_DIR=${MEDIA_DIR:-/tmp/peerbench/media}
  [[ -f $MEDIA_DIR/master.m3u8 ]] || "$PEERBENCH/make-media.sh" "$MEDIA_DIR" ;;
*) echo "huge_pages.sh: MEDIA is 6s or peerbench, not $MEDIA" >&2; exit 2 ;;
esac
before=$(sed 's/.*\[\(.*\)\].*/\1/' "$setting")
cleanup() {
  "$PEERBENCH/peers.sh" stop nginx varnish hls-edge >/dev/null 2>&1 || true
  "$PEERBENCH/origin.sh" stop >/dev/null 2>&1 || true
  echo "$before" >"$setting"
  rm -rf "$PB_SHM"
}
trap cleanup EXIT

if [[ ! -f $MEDIA_DIR/master.m3u8 ]]; then
  mkdir -p "$MEDIA_DIR"
  (cd "$MEDIA_DIR" && ffmpeg -hide_banner -loglevel error -y \
    -f lavfi -i "testsrc2=size=1280x720:rate=30:duration=120" \
    -f lavfi -i "sine=frequency=1000:sample_rate=48000:duration=120" \
    -filter_complex "[0:v]split=2[v1][v2];[v2]scale=640:360[v2s];[1:a]asplit=2[a1][a2]" \
    -map "[v1]" -map "[a1]" -map "[v2s]" -map "[a2]" \
    -c:v libx264 -threads:v 1 -preset ultrafast -pix_fmt yuv420p \
    -g 60 -keyint_min 60 -sc_threshold 0 -x264-params nal-hrd=cbr:force-cfr=1 \
    -b:v:0 6000k -minrate:v:0 6000k -maxrate:v:0 6000k -bufsize:v:0 6000k \
    -b:v:1 3000k -minrate:v:1 3000k -maxrate:v:1 3000k -bufsize:v:1 3000k \
    -c:a aac -b:a 128k -ac 2 -map_metadata -1 \
    -f hls -hls_time 6 -hls_playlist_type vod -hls_list_size 0 \
    -hls_flags independent_segments -hls_segment_type mpegts \
    -var_stream_map "v:0,a:0,name:720p v:1,a:1,name:360p" \
    -master_pl_name master.m3u8 -hls_segment_filename "%v/seg_%05d.ts" "%v/index.m3u8")
  chmod -R a+rX "$MEDIA_DIR"
fi
echo "media: $(ls "$MEDIA_DIR"/*/seg_*.ts | wc -l) segments, $(du -sh "$MEDIA_DIR" | cut -f1)" |
  tee "$RESULTS/media.txt"

huge_kb() { awk '$1 == "ShmemHugePages:" { print $2 }' /proc/meminfo; }
# measure LABEL PEER: one peerbench load.sh pass against PEER, named LABEL.
measure() {
  "$PEERBENCH/peers.sh" start "$2" >>"$RESULTS/peers.log"
  local port
  port=$("$PEERBENCH/peers/$2.sh" port)
  "$PEERBENCH/load.sh" "http://127.0.0.1:$port" "$1" \
    2>>"$RESULTS/load.log" | tee -a "$RESULTS/load.csv"
  echo "# $1: ShmemHugePages after the load $(huge_kb) kB" >>"$RESULTS/load.log"
  if [[ $2 == hls-edge ]]; then # benches/peer.sh puts the admin listener 1000 above
    curl -sf "http://127.0.0.1:$((port + 1000))/metrics" |
      sed -n 's/^hls_edge_sealed_huge_runs_total{result="\(.*\)"} \(.*\)/# '"$1"': 2 MiB runs \1 \2/p' \
      >>"$RESULTS/load.log" || true
  fi
  "$PEERBENCH/peers.sh" stop "$2"
}

"$PEERBENCH/origin.sh" start >"$RESULTS/origin.out"
echo "name,scenario,req_s,mb_s,p50_ms,p99_ms" | tee "$RESULTS/load.csv"
for ((r = 1; r <= ROUNDS; r++)); do
  echo never >"$setting"
  measure nginx nginx
  measure varnish varnish
  echo deny >"$setting"
  measure hls-edge:4k hls-edge
  echo never >"$setting"
  measure hls-edge:huge hls-edge
  HLS_EDGE_SENDFILE=false measure hls-edge:copy hls-edge
done

echo "== medians over $ROUNDS round(s) -> $RESULTS/summary.csv"
python3 - "$RESULTS/load.csv" <<'PY' | tee "$RESULTS/summary.csv"
import csv, statistics, sys
rows = list(csv.DictReader(open(sys.argv[1])))
cols = ["req_s", "mb_s", "p50_ms", "p99_ms"]
print("name,scenario," + ",".join(cols))
for key in dict.fromkeys((r["name"], r["scenario"]) for r in rows):
    got = [r for r in rows if (r["name"], r["scenario"]) == key]
    print(",".join(key) + "," + ",".join(f"{statistics.median(float(r[c]) for r in got):.8g}" for c in cols))
PY
echo "== CPU per request and huge pages"; cat "$RESULTS/load.log"
echo "results in $RESULTS"
