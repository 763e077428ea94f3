#!/usr/bin/env python3
"""A live HLS origin and a crowd of playlist pollers (stdlib only), for benches/live_pollers.sh.

  live_pollers.py origin PORT T0 LOG
      serves GET/HEAD /live/index.m3u8: a live media playlist (6-segment window, 2 s target
      duration) whose content is a function of the clock: at time t it lists
      n(t) = 6 + floor((t - T0) / 2) segments, i.e. one segment is appended every 2 s.
      ETag "n" and If-None-Match (304) like a file origin. Any other path: 404.
      Appends "time method path status body_bytes n" to LOG for every request.
  live_pollers.py client URL T0 --conns 500 --seconds 30 --mode player|fast --origin-log LOG
      opens CONNS keep-alive connections, then each polls URL for SECONDS:
      player: every P seconds, P drawn once per poller in [1, 2] s (fixed seed), random phase;
      fast:   the next request as soon as the previous answer is read.
      Prints one CSV line (see HEADER); the lag histogram goes to stderr.

Staleness: a request sent at t_send should get a playlist of at least n(t_send) segments (the
origin had that many when it was sent). lag = n(t_send) - n(answer); an answer with lag > 0 is
stale, by t_send - (the moment its playlist was superseded at the origin). Both processes
read the same wall clock (one machine).
"""
import argparse
import asyncio
import gc
import math
import random
import signal
import sys
import time
from urllib.parse import urlsplit

TARGET_DURATION = 2.0
WINDOW = 6
PATH = "/live/index.m3u8"
HEADER = ("name,mode,pollers,seconds,requests,req_s,p50_ms,p99_ms,origin_fetch_s,"
          "origin_200,origin_304,stale_answers,stale_pct,max_lag_segments,max_stale_ms,errors")


def segments_at(t, t0):
    """n(t): how many segments the origin's playlist lists at time t."""
    return WINDOW + math.floor((t - t0) / TARGET_DURATION)


def superseded_at(n, t0):
    """When the origin's playlist of n segments was replaced by the next one."""
    return t0 + (n - WINDOW + 1) * TARGET_DURATION


def playlist(n, t0):
    first = n - WINDOW
    out = ["#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-TARGETDURATION:{int(TARGET_DURATION)}",
           f"#EXT-X-MEDIA-SEQUENCE:{first}"]
    for i in range(first, n):
        start = t0 + (i - WINDOW) * TARGET_DURATION
        pdt = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(start)) + f".{int(start * 1000) % 1000:03d}Z"
        out += [f"#EXT-X-PROGRAM-DATE-TIME:{pdt}", f"#EXTINF:{TARGET_DURATION:.3f},", f"seg_{i:08d}.ts"]
    return ("\n".join(out) + "\n").encode()


# ---- origin ---------------------------------------------------------------------------

async def serve(port, t0, log_path):
    log = open(log_path, "a", buffering=1 << 16)
    bodies = {}

    async def handle(reader, writer):
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                now = time.time()
                lines = head.split(b"\r\n")
                method, target, _ = lines[0].decode("latin-1").split(" ", 2)
                inm = None
                for line in lines[1:]:
                    k, _, v = line.partition(b":")
                    if k.strip().lower() == b"if-none-match":
                        inm = v.strip().decode("latin-1")
                n = 0
                if target.split("?", 1)[0] == PATH:
                    n = segments_at(now, t0)
                    body = bodies.get(n)
                    if body is None:
                        bodies.clear()
                        body = bodies[n] = playlist(n, t0)
                    etag = f'"{n}"'
                    status = 304 if inm == etag else 200
                    hdr = (f"Content-Type: application/vnd.apple.mpegurl\r\nETag: {etag}\r\n"
                           f"Content-Length: {len(body)}\r\n")
                    if status == 304:
                        body = b""
                else:
                    status, body, hdr = 404, b"", "Content-Length: 0\r\n"
                reason = {200: "OK", 304: "Not Modified", 404: "Not Found"}[status]
                sent = body if method == "GET" else b""
                writer.write(f"HTTP/1.1 {status} {reason}\r\n{hdr}\r\n".encode() + sent)
                log.write(f"{now:.6f} {method} {target} {status} {len(sent)} {n}\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()

    async def flush():
        while True:
            await asyncio.sleep(0.2)
            log.flush()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=4096)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    flusher = asyncio.create_task(flush())
    async with server:
        await stop.wait()
    flusher.cancel()
    log.close()


# ---- client ---------------------------------------------------------------------------

async def read_response(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length, chunked, close, cache = None, False, False, "-"
    for line in lines[1:]:
        k, _, v = line.partition(b":")
        k = k.strip().lower()
        if k in (b"cache-status", b"x-cache"):
            # hls-edge's RFC 9211 Cache-Status without its ttl, or the peers' X-Cache
            cache = ";".join(p.strip() for p in v.decode("latin-1").split(";")
                             if not p.strip().startswith("ttl=")).strip()
        elif k == b"content-length":
            length = int(v)
        elif k == b"transfer-encoding":
            chunked = b"chunked" in v.lower()
        elif k == b"connection":
            close = b"close" in v.lower()
    if chunked:
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")
                break
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        body = b"".join(parts)
    elif length is not None:
        body = await reader.readexactly(length)
    else:
        body = b""
    return status, body, close, cache


def segment_count(body):
    """n of an answer: EXT-X-MEDIA-SEQUENCE plus the number of segments listed."""
    i = body.find(b"#EXT-X-MEDIA-SEQUENCE:")
    if i < 0:
        return None
    j = body.find(b"\n", i)
    return int(body[i + 22:j]) + body.count(b"#EXTINF")


class Tally:
    def __init__(self):
        self.lat, self.errors, self.stale, self.max_stale = [], 0, 0, 0.0
        self.lags, self.cache, self.status = {}, {}, {}


def source_address(i):
    """Poller i's own loopback address (127.0.1.1, 127.0.1.2, ...): 500 viewers come from
    500 addresses, not one (hls-edge limits connections per client address, default 128)."""
    return (f"127.0.{1 + i // 250}.{1 + i % 250}", 0) if i >= 0 else None


async def poller(addr, src, req, conn, args, t0, start, deadline, period, phase, tally):
    reader, writer = conn
    due = start + phase
    while True:
        if args.mode == "player":
            wait = due - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
            due = max(due + period, time.time())
        t_send = time.time()
        if t_send >= deadline:
            break
        m0 = time.monotonic()
        try:
            if writer is None:
                reader, writer = await asyncio.open_connection(*addr, local_addr=src)
            writer.write(req)
            status, body, close, cache = await read_response(reader)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            tally.errors += 1
            writer = None
            await asyncio.sleep(0.05)   # no busy loop against a peer that refuses
            continue
        tally.lat.append(time.monotonic() - m0)
        tally.cache[cache] = tally.cache.get(cache, 0) + 1
        tally.status[status] = tally.status.get(status, 0) + 1
        n = segment_count(body) if status == 200 else None
        if n is None:
            tally.errors += 1
        else:
            lag = segments_at(t_send, t0) - n
            tally.lags[lag] = tally.lags.get(lag, 0) + 1
            if lag > 0:
                tally.stale += 1
                tally.max_stale = max(tally.max_stale, t_send - superseded_at(n, t0))
        if close:
            writer.close()
            writer = None
    if writer is not None:
        writer.close()


def origin_fetches(log_path, start, end):
    counts = {}
    with open(log_path) as f:
        for line in f:
            p = line.split()
            if len(p) >= 4 and p[2].split("?", 1)[0] == PATH and start <= float(p[0]) < end:
                counts[p[3]] = counts.get(p[3], 0) + 1
    return counts


async def run_client(args):
    url = urlsplit(args.url)
    addr = (url.hostname, url.port or 80)
    req = (f"GET {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\n"
           "User-Agent: live-pollers\r\n\r\n").encode()
    rng = random.Random(args.seed)
    srcs = [source_address(i if args.spread else -1) for i in range(args.conns)]
    conns = await asyncio.gather(*(asyncio.open_connection(*addr, local_addr=s) for s in srcs))
    tally = Tally()
    gc.disable()
    start = time.time() + 0.2
    deadline = start + args.seconds
    tasks = []
    for conn, src in zip(conns, srcs):
        period = rng.uniform(1.0, 2.0)
        tasks.append(poller(addr, src, req, conn, args, args.t0, start, deadline, period,
                            rng.uniform(0, period), tally))
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=args.seconds + 30)
    gc.enable()
    await asyncio.sleep(0.6)            # the origin flushes its log every 0.2 s
    fetches = origin_fetches(args.origin_log, start, deadline)
    lat = sorted(tally.lat)
    pct = lambda q: 1000 * lat[min(len(lat) - 1, int(q * len(lat)))] if lat else float("nan")
    total = sum(tally.lags.values())
    print(f"{args.name},{args.mode},{args.conns},{args.seconds},{len(lat)},{len(lat) / args.seconds:.1f},"
          f"{pct(0.50):.2f},{pct(0.99):.2f},{sum(fetches.values()) / args.seconds:.2f},"
          f"{fetches.get('200', 0)},{fetches.get('304', 0)},{tally.stale},"
          f"{100 * tally.stale / max(total, 1):.2f},{max([0] + list(tally.lags)) if total else 0},"
          f"{1000 * tally.max_stale:.0f},{tally.errors}")
    hist = " ".join(f"{k}:{v}" for k, v in sorted(tally.lags.items()))
    print(f"# {args.name} {args.mode}: answers by lag (segments:count) {hist}; origin statuses {fetches};"
          f" answers by status {tally.status}, by cache header {tally.cache}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    o = sub.add_parser("origin")
    o.add_argument("port", type=int)
    o.add_argument("t0", type=float)
    o.add_argument("log")
    c = sub.add_parser("client")
    c.add_argument("url")
    c.add_argument("t0", type=float)
    c.add_argument("--name", default="peer")
    c.add_argument("--conns", type=int, default=500)
    c.add_argument("--seconds", type=float, default=30)
    c.add_argument("--mode", choices=["player", "fast"], default="player")
    c.add_argument("--seed", type=int, default=15)
    c.add_argument("--origin-log", required=True)
    c.add_argument("--one-address", dest="spread", action="store_false",
                   help="every poller from 127.0.0.1 (default: one loopback address each)")
    sub.add_parser("header")
    args = ap.parse_args()
    if args.cmd == "origin":
        asyncio.run(serve(args.port, args.t0, args.log))
    elif args.cmd == "client":
        asyncio.run(run_client(args))
    else:
        print(HEADER)


if __name__ == "__main__":
    main()
