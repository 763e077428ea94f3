#!/usr/bin/env bash
# peerbench's side-by-side run with every peer in every place of the round:
#   benches/side_by_side.sh          (from the repository root; build first with
#                                     benches/pgo.sh or cargo build --release)
# peerbench's run-all.sh starts the peers in the same order in every round, and this host
# drifts within a round (a peer's figures change with its place: docs/performance.md,
# "Every peer in every place"). This runs run-all.sh once per rotation of PEERS, with
# ROUNDS=1 each, so that with three peers each one runs first, second and last once, in
# the load rounds and in the coalescing runs alike. Writes to RESULTS: rotation-N/ (what
# run-all.sh wrote for that rotation), load.csv (every round, with its rotation and the
# peer's place), coalesce.csv (origin fetches and latencies of each coalescing run) and
# summary.csv (per peer and scenario, the medians over the rotations); prints the
# summary, the edge's ratio to the best other peer per row and round, and each peer's
# server CPU per request (from run-all.sh's load.log).
# Env: PEERS ("nginx varnish hls-edge"), ROTATIONS (as many as peers), PEERBENCH
#   (../shared/peerbench), HLS_EDGE_BIN (target/release/hls-edge), RESULTS
#   (/tmp/hls-edge-bench/side-by-side-TIMESTAMP); peerbench's own knobs (WARMUP, DURATION,
#   CONNS, SLOW_MS, ...) pass through. About 2.5 minutes per rotation with three peers.
# Loopback only; run-all.sh stops what it started.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
source "$root/benches/lib.sh"
PEERBENCH=$(cd "${PEERBENCH:-$root/../shared/peerbench}" && pwd)
PEERS=${PEERS:-nginx varnish hls-edge}
bench_peers_ready side_by_side.sh
read -r -a peers <<<"$PEERS"
rotations=${ROTATIONS:-${#peers[@]}}
results=${RESULTS:-/tmp/hls-edge-bench/side-by-side-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$results"
results=$(cd "$results" && pwd)

order=("${peers[@]}")
for ((n = 1; n <= rotations; n++)); do
  echo "== rotation $n of $rotations: ${order[*]}" >&2
  ROUNDS=1 PEERS="${order[*]}" RESULTS="$results/rotation-$n" "$PEERBENCH/run-all.sh" >&2
  order=("${order[@]:1}" "${order[0]}")
done

python3 - "$results" "$rotations" <<'PY'
import csv, re, statistics, sys
from pathlib import Path

results, rotations = Path(sys.argv[1]), int(sys.argv[2])
load, coalesce, cpu = [], [], {}
for n in range(1, rotations + 1):
    rot = results / f"rotation-{n}"
    rows = list(csv.DictReader(open(rot / "load.csv")))
    order = list(dict.fromkeys(r["name"] for r in rows))
    for r in rows:
        load.append({"rotation": n, "place": order.index(r["name"]) + 1, **r})
    for line in open(rot / "coalesce.txt"):
        m = re.match(r"(\S+) origin_hits=(\d+) .*lat_ms_min=(\d+) p50=(\d+) max=(\d+)", line)
        if m:
            name, hits, lo, p50, hi = m.groups()
            coalesce.append({"rotation": n, "place": order.index(name) + 1, "name": name,
                             "origin_hits": hits, "min_ms": lo, "p50_ms": p50, "max_ms": hi})
    for line in open(rot / "load.log"):
        m = re.match(r"# (\S+) (\S+): server cpu\d+ busy \d+% \(([\d.]+) us/req\)", line)
        if m:
            cpu.setdefault((m[1], m[2]), []).append(float(m[3]))

def write(name, rows):
    with open(results / name, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)

write("load.csv", load)
write("coalesce.csv", coalesce)
names = list(dict.fromkeys(r["name"] for r in load))
scenarios = list(dict.fromkeys(r["scenario"] for r in load))
cols = ["req_s", "mb_s", "p50_ms", "p99_ms"]
summary = []
for name in names:
    for scen in scenarios:
        got = [r for r in load if (r["name"], r["scenario"]) == (name, scen)]
        summary.append({"name": name, "scenario": scen,
                        **{c: f"{statistics.median(float(r[c]) for r in got):.8g}" for c in cols}})
    got = [r for r in coalesce if r["name"] == name]
    if got:
        summary.append({"name": name, "scenario": "coalescing",
                        "req_s": max(int(r["origin_hits"]) for r in got), "mb_s": "",
                        "p50_ms": statistics.median(int(r["p50_ms"]) for r in got), "p99_ms": ""})
write("summary.csv", summary)

print("name,scenario,req_s,mb_s,p50_ms,p99_ms  (medians; coalescing: most origin fetches, p50)")
for r in summary:
    print(",".join(str(r[k]) for k in ("name", "scenario", *cols)))
for (name, scen), us in cpu.items():
    print(f"# {name} {scen}: server CPU {min(us):.1f}-{max(us):.1f} us/req")
if "hls-edge" in names and len(names) > 1:
    for scen in scenarios:
        by = {(r["name"], r["rotation"]): float(r["req_s"]) for r in load if r["scenario"] == scen}
        ratios = [by[("hls-edge", n)] / max(by[(o, n)] for o in names if o != "hls-edge")
                  for n in range(1, rotations + 1)]
        print(f"# hls-edge {scen} / best other peer, by rotation: "
              + " ".join(f"{x:.2f}" for x in ratios) + f" (median {statistics.median(ratios):.2f})")
print(f"results in {results}")
PY
