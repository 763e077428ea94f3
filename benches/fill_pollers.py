#!/usr/bin/env python3
"""Players polling one playlist (cache hits) while the edge fills segments.

Usage: fill_pollers.py PORT PATH SECONDS [POLLERS]
POLLERS (2) keep-alive connections each GET PATH, read the answer, wait 2 ms, and again,
for SECONDS. Prints one line: polls=N p50= p99= p999= max= (ms) over5ms=<polls slower
than 5 ms>. Standard library only.
"""
import http.client
import sys
import threading
import time

PORT, PATH, SECONDS = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
POLLERS = int(sys.argv[4]) if len(sys.argv) > 4 else 2
times = []


def poll():
    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=10)
    end = time.monotonic() + SECONDS
    while time.monotonic() < end:
        start = time.monotonic()
        conn.request("GET", PATH)
        answer = conn.getresponse()
        answer.read()
        if answer.status != 200:
            sys.exit(f"fill_pollers.py: {PATH} answered {answer.status}")
        times.append((time.monotonic() - start) * 1000)
        time.sleep(0.002)


threads = [threading.Thread(target=poll) for _ in range(POLLERS)]
for t in threads:
    t.start()
for t in threads:
    t.join()
times.sort()
n = len(times)
at = lambda q: times[min(n - 1, int(n * q))]
print(f"polls={n} p50={at(0.5):.2f} p99={at(0.99):.2f} p999={at(0.999):.2f} "
      f"max={times[-1]:.2f} over5ms={sum(1 for t in times if t > 5)}")
