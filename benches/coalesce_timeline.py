#!/usr/bin/env python3
"""N simultaneous GETs for one cold URL, timed per request (stdlib asyncio).

Like peerbench's coalesce.py (all N connections opened first, then every
request written at once, `Connection: close`), but each request's timeline is
kept: when its first byte arrived, and when its body was complete. The
origin's answer time is read from the origin's access log (its line is written
when the answer has been handed to the socket), so the output says how long
after the origin each waiter got its first byte and its last.

Usage: coalesce_timeline.py URL N ORIGIN_LOG NAME
Prints one CSV line (columns: `coalesce_timeline.py header`).
"""
import asyncio
import sys
import time
from urllib.parse import urlsplit

COLUMNS = ("name,requests,ok,body_bytes,origin_fetches,origin_answer_ms,"
           "first_byte_min_ms,first_byte_p50_ms,first_byte_max_ms,"
           "done_min_ms,done_p50_ms,done_max_ms")


async def fetch(conn, request, go):
    reader, writer = conn
    await go.wait()
    writer.write(request)
    first = await reader.read(65536)
    t_first = time.time()
    chunks = [first]
    while True:
        data = await reader.read(1 << 20)
        if not data:
            break
        chunks.append(data)
    t_done = time.time()
    writer.close()
    data = b"".join(chunks)
    head, _, body = data.partition(b"\r\n\r\n")
    ok = head.startswith(b"HTTP/1.1 200")
    return ok, len(body), t_first, t_done


def origin_lines(log, path):
    try:
        with open(log) as f:
            return [float(l.split()[0]) for l in f if f'"GET {path} ' in l]
    except FileNotFoundError:
        return []


async def main(url, n, log, name):
    u = urlsplit(url)
    request = (f"GET {u.path} HTTP/1.1\r\nHost: {u.netloc}\r\n"
               "Connection: close\r\n\r\n").encode()
    before = len(origin_lines(log, u.path))
    conns = await asyncio.gather(*(asyncio.open_connection(u.hostname, u.port)
                                   for _ in range(n)))
    go = asyncio.Event()
    tasks = [asyncio.create_task(fetch(c, request, go)) for c in conns]
    await asyncio.sleep(0.05)  # every task parked on go.wait()
    t0 = time.time()
    go.set()
    res = await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
    await asyncio.sleep(0.3)  # the origin writes its log line after the answer
    answers = origin_lines(log, u.path)[before:]
    ms = lambda t: (t - t0) * 1000
    first = sorted(ms(r[2]) for r in res)
    done = sorted(ms(r[3]) for r in res)
    sizes = sorted({r[1] for r in res})
    origin_ms = f"{ms(answers[0]):.0f}" if answers else "nan"
    print(f"{name},{n},{sum(r[0] for r in res)},{'/'.join(map(str, sizes))},"
          f"{len(answers)},{origin_ms},"
          f"{first[0]:.0f},{first[n // 2]:.0f},{first[-1]:.0f},"
          f"{done[0]:.0f},{done[n // 2]:.0f},{done[-1]:.0f}")


if __name__ == "__main__":
    if sys.argv[1:2] == ["header"]:
        print(COLUMNS)
    else:
        asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]))
