import os, socket, select, sys
mode = sys.argv[1]; port = int(sys.argv[2])
data = open('/dev/shm/probe_seg.ts','rb').read(); size = len(data)
mfd = os.memfd_create("seg"); os.write(mfd, data)
hdr = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nContent-Type: video/mp2t\r\n\r\n" % size
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); ls.bind(("127.0.0.1", port)); ls.listen(512); ls.setblocking(False)
ep = select.epoll(); ep.register(ls.fileno(), select.EPOLLIN)
conns = {}  # fd -> [sock, inbuf, off(-1 idle)]
mv = memoryview(data)
def pump(fd):
    c = conns[fd]; s = c[0]
    while c[2] >= 0:
        off = c[2]
        try:
            if off < len(hdr):
                n = s.send(hdr[off:], socket.MSG_MORE)
            elif mode == "write":
                n = s.send(mv[off-len(hdr):])
            else:
                n = os.sendfile(fd, mfd, off-len(hdr), size-(off-len(hdr)))
        except BlockingIOError:
            ep.modify(fd, select.EPOLLIN | select.EPOLLOUT | select.EPOLLET); return
        c[2] += n
        if c[2] == len(hdr) + size: c[2] = -1
while True:
    for fd, ev in ep.poll():
        if fd == ls.fileno():
            while True:
                try: s, _ = ls.accept()
                except BlockingIOError: break
                s.setblocking(False); s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                conns[s.fileno()] = [s, b"", -1]; ep.register(s.fileno(), select.EPOLLIN | select.EPOLLOUT | select.EPOLLET)
            continue
        c = conns.get(fd)
        if c is None: continue
        if ev & select.EPOLLIN:
            try:
                while True:
                    d = c[0].recv(65536)
                    if not d: ep.unregister(fd); c[0].close(); del conns[fd]; c = None; break
                    c[1] += d
            except BlockingIOError: pass
            except ConnectionError: ep.unregister(fd); c[0].close(); del conns[fd]; c = None
        if c is None: continue
        if c[2] < 0 and b"\r\n\r\n" in c[1]:
            c[1] = c[1].split(b"\r\n\r\n", 1)[1]; c[2] = 0
        if c[2] >= 0: pump(fd)
