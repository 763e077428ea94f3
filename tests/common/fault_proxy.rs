//! A TCP hop in front of a real origin that relays HTTP/1.1 exchanges untouched until told
//! to fail the way an overloaded origin or a broken network does (what nginx alone cannot
//! be made to do on demand):
//!
//! - `CutSegments`: a `.ts` response's header and half its body, then the connection
//!   closes (the origin died mid-transfer, `Content-Length` not reached);
//! - `Delay(d)`: the response header is held back `d` (beyond a read timeout);
//! - `Silent`: the request is read, then the connection closes with no answer;
//! - `Down`: the listening port is closed (connections refused), as when the origin host
//!   is gone; switching back reopens the same port.
//!
//! It parses just enough HTTP/1.1 to know where each message ends (`Content-Length`, or
//! no body for `HEAD`, 1xx, 204 and 304); chunked or unframed replies are relayed until
//! the origin closes. It counts what it did, so a test can assert a fault really happened.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the hop does to the exchanges it relays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    CutSegments,
    Delay(Duration),
    Silent,
    Down,
}

#[derive(Default)]
struct Counters {
    /// Every request target relayed, in order.
    targets: Mutex<Vec<String>>,
    /// When each target's response head was passed on, in order.
    answered: Mutex<Vec<(String, std::time::Instant)>>,
    relayed: AtomicUsize,
    cut: AtomicUsize,
    delayed: AtomicUsize,
    silenced: AtomicUsize,
}

/// See the module docs.
pub struct FaultProxy {
    addr: SocketAddr,
    fault: Arc<Mutex<Fault>>,
    counters: Arc<Counters>,
    /// Its own runtime, on its own thread: it keeps relaying while a test blocks.
    handle: tokio::runtime::Handle,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    accept: Mutex<Option<tokio::task::JoinHandle<()>>>,
    upstream: SocketAddr,
}

impl FaultProxy {
    /// A hop on a free loopback port relaying to `upstream`.
    pub fn start(upstream: SocketAddr) -> FaultProxy {
        let (handle_tx, handle_rx) = std::sync::mpsc::channel();
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("runtime for the fault proxy");
            let _ = handle_tx.send(runtime.handle().clone());
            runtime.block_on(async {
                let _ = stop.await;
            });
        });
        let handle = handle_rx.recv().expect("fault proxy runtime");
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().expect("local addr");
        let proxy = FaultProxy {
            addr,
            fault: Arc::new(Mutex::new(Fault::None)),
            counters: Arc::new(Counters::default()),
            handle,
            shutdown: Some(shutdown),
            thread: Some(thread),
            accept: Mutex::new(None),
            upstream,
        };
        proxy.serve(listener);
        proxy
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Switches the fault (`Down` closes the port; any other reopens it).
    pub fn set(&self, fault: Fault) {
        let was = std::mem::replace(&mut *self.fault.lock().expect("fault"), fault);
        match (was == Fault::Down, fault == Fault::Down) {
            (false, true) => {
                if let Some(accept) = self.accept.lock().expect("accept").take() {
                    accept.abort();
                }
                // the listener goes with the aborted task, on the proxy's thread
                let deadline = std::time::Instant::now() + Duration::from_secs(5);
                while std::net::TcpStream::connect(self.addr).is_ok()
                    && std::time::Instant::now() < deadline
                {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            (true, false) => {
                let listener =
                    std::net::TcpListener::bind(self.addr).expect("rebind the same port");
                self.serve(listener);
            }
            _ => {}
        }
    }

    /// Every request target that reached the origin, in order (`/path?query`).
    pub fn targets(&self) -> Vec<String> {
        self.counters.targets.lock().expect("targets").clone()
    }

    /// When the origin's answer to `target` was first passed on (its head).
    pub fn answered_at(&self, target: &str) -> Option<std::time::Instant> {
        let answered = self.counters.answered.lock().expect("answered");
        answered
            .iter()
            .find(|(t, _)| t == target)
            .map(|(_, at)| *at)
    }

    /// Responses relayed whole, cut, delayed, and requests left unanswered.
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let c = &self.counters;
        (
            c.relayed.load(Ordering::Relaxed),
            c.cut.load(Ordering::Relaxed),
            c.delayed.load(Ordering::Relaxed),
            c.silenced.load(Ordering::Relaxed),
        )
    }

    fn serve(&self, listener: std::net::TcpListener) {
        listener
            .set_nonblocking(true)
            .expect("non-blocking listener");
        let (fault, counters, upstream) =
            (self.fault.clone(), self.counters.clone(), self.upstream);
        let task = self.handle.spawn(async move {
            let Ok(listener) = TcpListener::from_std(listener) else {
                return;
            };
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((client, _)) = listener.accept().await {
                let (fault, counters) = (fault.clone(), counters.clone());
                conns.spawn(async move {
                    let _ = relay(client, upstream, &fault, &counters).await;
                });
            }
        });
        *self.accept.lock().expect("accept") = Some(task);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.shutdown.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Relays exchanges on one client connection until either side closes.
async fn relay(
    mut client: TcpStream,
    upstream: SocketAddr,
    fault: &Mutex<Fault>,
    counters: &Counters,
) -> std::io::Result<()> {
    let mut origin = TcpStream::connect(upstream).await?;
    let mut from_client = Vec::new();
    let mut from_origin = Vec::new();
    loop {
        let Some(request) = read_message(&mut client, &mut from_client, false, false).await? else {
            return Ok(());
        };
        let now = *fault.lock().expect("fault");
        let head = String::from_utf8_lossy(&request.head).to_string();
        let is_head = head.starts_with("HEAD ");
        let is_segment = head
            .split_whitespace()
            .nth(1)
            .is_some_and(|target| target.split('?').next().unwrap_or("").ends_with(".ts"));
        if now == Fault::Silent {
            counters.silenced.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        if let Some(target) = head.split_whitespace().nth(1) {
            counters
                .targets
                .lock()
                .expect("targets")
                .push(target.to_string());
        }
        origin.write_all(&request.head).await?;
        origin.write_all(&request.body).await?;
        let Some(response) = read_message(&mut origin, &mut from_origin, true, is_head).await?
        else {
            return Ok(());
        };
        if let Fault::Delay(d) = now {
            counters.delayed.fetch_add(1, Ordering::Relaxed);
            tokio::time::sleep(d).await;
        }
        client.write_all(&response.head).await?;
        if let Some(target) = head.split_whitespace().nth(1) {
            let at = std::time::Instant::now();
            counters
                .answered
                .lock()
                .expect("answered")
                .push((target.to_string(), at));
        }
        if now == Fault::CutSegments && is_segment && response.body.len() > 1 {
            counters.cut.fetch_add(1, Ordering::Relaxed);
            client
                .write_all(&response.body[..response.body.len() / 2])
                .await?;
            client.flush().await?;
            return Ok(());
        }
        client.write_all(&response.body).await?;
        counters.relayed.fetch_add(1, Ordering::Relaxed);
        if !response.keep_alive {
            return Ok(());
        }
    }
}

struct Message {
    head: Vec<u8>,
    body: Vec<u8>,
    /// The body's end is known (framed): the connection can carry another.
    keep_alive: bool,
}

/// Reads one HTTP/1.1 message from `stream` (`buf` keeps bytes read past it).
async fn read_message(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    response: bool,
    to_head: bool,
) -> std::io::Result<Option<Message>> {
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if !fill(stream, buf).await? {
            return Ok(None);
        }
    };
    let head: Vec<u8> = buf.drain(..end).collect();
    let text = String::from_utf8_lossy(&head).to_ascii_lowercase();
    let status = response
        .then(|| text.split_whitespace().nth(1)?.parse::<u16>().ok())
        .flatten()
        .unwrap_or(0);
    let no_body = to_head || matches!(status, 100..=199 | 204 | 304);
    let length = text
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    let (body, keep_alive) = match (no_body, length) {
        (true, _) => (Vec::new(), true),
        (false, Some(n)) => {
            while buf.len() < n {
                if !fill(stream, buf).await? {
                    break;
                }
            }
            let take = n.min(buf.len());
            (buf.drain(..take).collect(), true)
        }
        (false, None) if !response => (Vec::new(), true),
        (false, None) => {
            while fill(stream, buf).await? {}
            (std::mem::take(buf), false)
        }
    };
    Ok(Some(Message {
        head,
        body,
        keep_alive,
    }))
}

/// Reads more into `buf`; false at end of stream.
async fn fill(stream: &mut TcpStream, buf: &mut Vec<u8>) -> std::io::Result<bool> {
    let mut chunk = [0u8; 16 * 1024];
    let n = stream.read(&mut chunk).await?;
    buf.extend_from_slice(&chunk[..n]);
    Ok(n > 0)
}
