//! Loopback ports for servers the kit does not bind itself (the edge child).
//!
//! A port from `free_port` is free when returned, not reserved: another test
//! may take it before the child binds. Starts that can collide therefore retry
//! with fresh ports (`retry_on_port_collision`, used by `TestEdge::start_config`).

use std::collections::HashSet;
use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::sync::Mutex;

/// Ports this test process has handed out: the kernel may offer a port again as
/// soon as the probe socket is dropped, and two servers of one test given the same
/// port (an edge's admin and packager listeners, say) would share it.
static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// A loopback port that was free a moment ago (bind `127.0.0.1:0`, read, drop),
/// never one this process was given before.
pub fn free_port() -> u16 {
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    let handed_out = handed_out.get_or_insert_with(HashSet::new);
    for _ in 0..1_000 {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("bind 127.0.0.1:0 to find a free port");
        if handed_out.insert(port) {
            return port;
        }
    }
    panic!("no loopback port left that this process was not given before");
}

/// `127.0.0.1:<free_port()>`.
pub fn free_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

/// Whether a failed start reads as a bind collision (EADDRINUSE), as printed
/// by Rust's `io::Error` and most servers.
pub fn is_addr_in_use(text: &str) -> bool {
    let text = text.to_ascii_lowercase();
    text.contains("address already in use")
        || text.contains("os error 98")
        || text.contains("eaddrinuse")
        || text.contains("address in use")
}

/// Runs `start(attempt)` up to `attempts` times while it fails with an error
/// for which `collided` is true; the closure picks fresh ports each attempt.
pub async fn retry_on_port_collision<T, E, F, Fut>(
    attempts: usize,
    collided: impl Fn(&E) -> bool,
    mut start: F,
) -> Result<T, E>
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut attempt = 0;
    loop {
        match start(attempt).await {
            Err(e) if collided(&e) && attempt + 1 < attempts => attempt += 1,
            other => return other,
        }
    }
}
