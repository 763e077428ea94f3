//! `RecordingOrigin`: an origin on a loopback port that keeps every byte it
//! received, per connection, exactly as it arrived, so a test can assert that
//! something never reached an origin at all (not only that it was not
//! answered).
//!
//! It is deliberately lax, as many origins are: it reads a body only on
//! POST/PUT (the bytes after a GET's head are parsed as the next request, so a
//! smuggled request shows up as one), and it accepts `Upgrade` by answering
//! `101 Switching Protocols`, after which the connection is a raw sink whose
//! bytes are recorded too. Every other request gets `200` with a small body
//! naming its path (`origin saw /path`). Plain threads and blocking sockets: it
//! keeps serving while a test blocks, and stops (closing every connection) on
//! drop.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

#[derive(Default)]
struct Record {
    /// Bytes received, one entry per connection, in accept order.
    connections: Vec<Vec<u8>>,
    /// Request lines parsed, in order (`GET /x HTTP/1.1`).
    request_lines: Vec<String>,
    /// Every parsed request's head (request line and header lines).
    heads: Vec<String>,
    /// Open sockets, so that `stop` can close them.
    open: Vec<TcpStream>,
}

/// See the module docs.
pub struct RecordingOrigin {
    addr: SocketAddr,
    record: Arc<Mutex<Record>>,
    stopping: Arc<AtomicBool>,
    acceptor: Option<JoinHandle<()>>,
}

impl RecordingOrigin {
    /// Starts on `127.0.0.1:0`.
    pub fn start() -> RecordingOrigin {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().expect("bound address");
        let record = Arc::new(Mutex::new(Record::default()));
        let stopping = Arc::new(AtomicBool::new(false));
        let acceptor = {
            let (record, stopping) = (record.clone(), stopping.clone());
            std::thread::spawn(move || accept_loop(listener, record, stopping))
        };
        RecordingOrigin {
            addr,
            record,
            stopping,
            acceptor: Some(acceptor),
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every byte received so far, connections one after the other.
    pub fn received(&self) -> Vec<u8> {
        self.lock().connections.concat()
    }

    /// `received()` as text (lossy), for assertions and failure messages.
    pub fn received_text(&self) -> String {
        String::from_utf8_lossy(&self.received()).into_owned()
    }

    /// Whether `needle` appears anywhere in what was received (ASCII case
    /// ignored, as header names are).
    pub fn saw(&self, needle: &str) -> bool {
        self.received_text()
            .to_ascii_lowercase()
            .contains(&needle.to_ascii_lowercase())
    }

    /// The request lines parsed so far, in order.
    pub fn request_lines(&self) -> Vec<String> {
        self.lock().request_lines.clone()
    }

    /// The heads (request line and header lines) parsed so far, in order.
    pub fn heads(&self) -> Vec<String> {
        self.lock().heads.clone()
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.lock().connections.len()
    }

    /// Polls until `received()` stops growing for `quiet`, bounded by
    /// `within`: for asserting that nothing more arrives.
    pub fn settle(&self, quiet: Duration, within: Duration) {
        let deadline = Instant::now() + within;
        let mut last = self.received().len();
        let mut since = Instant::now();
        while Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
            let now = self.received().len();
            if now != last {
                (last, since) = (now, Instant::now());
            } else if since.elapsed() >= quiet {
                return;
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Record> {
        self.record.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for RecordingOrigin {
    fn drop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // wake the blocking accept
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        for socket in self.lock().open.drain(..) {
            let _ = socket.shutdown(Shutdown::Both);
        }
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

fn accept_loop(listener: TcpListener, record: Arc<Mutex<Record>>, stopping: Arc<AtomicBool>) {
    for stream in listener.incoming() {
        if stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        let index = {
            let mut r = record.lock().unwrap_or_else(|e| e.into_inner());
            r.connections.push(Vec::new());
            if let Ok(clone) = stream.try_clone() {
                r.open.push(clone);
            }
            r.connections.len() - 1
        };
        let record = record.clone();
        std::thread::spawn(move || serve(stream, index, record));
    }
}

fn serve(mut stream: TcpStream, index: usize, record: Arc<Mutex<Record>>) {
    let mut pending: Vec<u8> = Vec::new();
    let mut upgraded = false;
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let mut r = record.lock().unwrap_or_else(|e| e.into_inner());
        r.connections[index].extend_from_slice(&buf[..n]);
        if upgraded {
            continue;
        }
        pending.extend_from_slice(&buf[..n]);
        while let Some(end) = find(&pending, b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&pending[..end]).into_owned();
            pending.drain(..end + 4);
            let line = head.lines().next().unwrap_or("").to_string();
            r.request_lines.push(line.clone());
            r.heads.push(head.clone());
            let lower = head.to_ascii_lowercase();
            if lower.lines().any(|l| l.starts_with("upgrade:")) {
                let _ = stream.write_all(
                    b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n",
                );
                upgraded = true;
                // from here on every byte is only recorded as it arrives
                pending.clear();
                break;
            }
            let body = format!("origin saw {}\n", line.split(' ').nth(1).unwrap_or(""));
            let reply = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: video/mp2t\r\nContent-Length: {}\r\nCache-Control: max-age=60\r\n\r\n{body}",
                body.len()
            );
            if stream.write_all(reply.as_bytes()).is_err() {
                return;
            }
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
