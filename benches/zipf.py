#!/usr/bin/env python3
"""Objects, Zipf request traces and hit ratios (stdlib only), for benches/zipf.sh.

  zipf.py media DIR OBJECTS MEAN_KB
      DIR/zipf/seg_00000.ts ...: OBJECTS segment files, sizes uniform in [0.5, 1.5] x MEAN_KB
      (fixed seed: the same files every time), and DIR/master.m3u8 listing them (peerbench's
      origin.sh wants one). Kept if already complete.
  zipf.py trace DIR S SEED REQUESTS OUT
      REQUESTS paths drawn from a Zipf law of exponent S over the objects of DIR (rank k has
      weight 1/k^S; which object has which rank is one fixed shuffle, the same for every SEED).
  zipf.py lru DIR CACHE_MB WARM MEASURED
      what a byte-bounded LRU cache of CACHE_MB MiB would hit on MEASURED after WARM (a
      reference for the peers: bodies only, no metadata, no admission policy).
  zipf.py report DIR TRACE ORIGIN_LOG FIRST_LINE
      compares TRACE (the requests sent) with the origin log from line FIRST_LINE on
      (peerbench's nginx origin: "msec addr "GET path HTTP/1.1" status body_bytes"):
      prints requests,origin_fetches,req_hit_ratio,bytes_served,origin_bytes,byte_hit_ratio
"""
import bisect
import os
import random
import sys
from collections import OrderedDict

PREFIX = "zipf"


def media(d, objects, mean_kb):
    seg_dir = os.path.join(d, PREFIX)
    os.makedirs(seg_dir, exist_ok=True)
    rng = random.Random(20261202)
    names = []
    for i in range(objects):
        name = f"seg_{i:05d}.ts"
        size = int(rng.uniform(0.5, 1.5) * mean_kb * 1000)
        path = os.path.join(seg_dir, name)
        if not (os.path.exists(path) and os.path.getsize(path) == size):
            with open(path, "wb") as f:
                f.write(rng.randbytes(size))
        else:
            rng.randbytes(size)         # keep the generator in step: same files either way
        names.append(name)
    with open(os.path.join(seg_dir, "index.m3u8"), "w") as f:
        f.write("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-PLAYLIST-TYPE:VOD\n")
        f.writelines(f"#EXTINF:2.000,\n{n}\n" for n in names)
        f.write("#EXT-X-ENDLIST\n")
    with open(os.path.join(d, "master.m3u8"), "w") as f:
        f.write(f"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000\n{PREFIX}/index.m3u8\n")


def sizes(d):
    seg_dir = os.path.join(d, PREFIX)
    return {f"/{PREFIX}/{n}": os.path.getsize(os.path.join(seg_dir, n))
            for n in sorted(os.listdir(seg_dir)) if n.endswith(".ts")}


def trace(d, s, seed, requests, out):
    paths = sorted(sizes(d))
    random.Random(1).shuffle(paths)     # rank -> object, the same for every trace
    cum, total = [], 0.0
    for k in range(1, len(paths) + 1):
        total += 1.0 / k ** s
        cum.append(total)
    rng = random.Random(seed)
    with open(out, "w") as f:
        for _ in range(requests):
            f.write(paths[bisect.bisect_left(cum, rng.random() * total)] + "\n")


def read_trace(path):
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def lru(d, cache_mb, warm, measured):
    size = sizes(d)
    cap, held, cache = cache_mb * 1024 * 1024, 0, OrderedDict()
    hits = hit_bytes = req_bytes = 0
    for phase, reqs in (("warm", read_trace(warm)), ("measured", read_trace(measured))):
        for p in reqs:
            if p in cache:
                cache.move_to_end(p)
                if phase == "measured":
                    hits, hit_bytes = hits + 1, hit_bytes + size[p]
            else:
                cache[p] = True
                held += size[p]
                while held > cap:
                    old, _ = cache.popitem(last=False)
                    held -= size[old]
            if phase == "measured":
                req_bytes += size[p]
        if phase == "measured":
            print(f"lru,{cache_mb}MiB,req_hit_ratio={hits / len(reqs):.4f},"
                  f"byte_hit_ratio={hit_bytes / req_bytes:.4f},objects_held={len(cache)}")


def report(d, trace_path, log, first_line):
    size = sizes(d)
    reqs = read_trace(trace_path)
    served = sum(size[p] for p in reqs)
    fetches = fetched = 0
    with open(log) as f:
        for i, line in enumerate(f, 1):
            p = line.split()
            if i >= first_line and len(p) >= 7 and p[3].startswith(f"/{PREFIX}/") and p[3].endswith(".ts"):
                fetches += 1
                fetched += int(p[6])
    print(f"{len(reqs)},{fetches},{1 - fetches / len(reqs):.4f},{served},{fetched},{1 - fetched / served:.4f}")


def main():
    cmd, a = sys.argv[1], sys.argv[2:]
    if cmd == "media":
        media(a[0], int(a[1]), float(a[2]))
    elif cmd == "trace":
        trace(a[0], float(a[1]), int(a[2]), int(a[3]), a[4])
    elif cmd == "lru":
        lru(a[0], int(a[1]), a[2], a[3])
    elif cmd == "report":
        report(a[0], a[1], a[2], int(a[3]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
