//! Loopback ports for servers the kit does not bind itself (the edge child).
//!
//! A port from `free_port` is free when returned, not reserved: another test
//! may take it before the child binds. Starts that can collide therefore retry
//! with fresh ports (`retry_on_port_collision`, used by `TestEdge::start_config`).

use std::future::Future;
use std::net::{SocketAddr, TcpListener};

/// A loopback port that was free a moment ago (bind `127.0.0.1:0`, read, drop).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0 to find a free port")
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
