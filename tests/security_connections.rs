//! Security: resource exhaustion at the connection level. A silent
//! connection, an idle kept-alive one, a slowloris header, a client that stops
//! reading, and one address opening connection after connection are each cut
//! (or refused) by a configured limit, and counted.

mod common;

use std::time::{Duration, Instant};

use common::*;

/// An edge with a public route `/pub/` on `origin` and `connections:` keys.
async fn edge_with(origin: impl std::fmt::Display, connections: &str) -> TestEdge {
    let config = EdgeConfig::new()
        .route("/pub/", origin)
        .extra_yaml(&format!("connections:\n{connections}"));
    TestEdge::start_config(&config).await
}

/// A connection to the player listener (which may open a moment after the
/// admin listener the kit waits for).
async fn connect(edge: &TestEdge) -> Client {
    let deadline = Deadline::new("the player listener accepting", Duration::from_secs(5));
    loop {
        match Client::connect_timeout(edge.addr(), Duration::from_secs(5)).await {
            Ok(client) => return client,
            Err(e) => {
                deadline
                    .tick(Duration::from_millis(20), || e.to_string())
                    .await
            }
        }
    }
}

/// Waits until the edge counts `n` open player connections. Cap tests start from zero:
/// the kit's readiness probe connects to the player listener and closes, and the edge
/// counts that connection until it has read the close.
async fn connections_open(edge: &TestEdge, n: f64) {
    let deadline = Deadline::new(format!("{n} open connections"), Duration::from_secs(5));
    loop {
        let text = edge.metrics().await;
        if metric_value(&text, "hls_edge_connections_open", &[]) == Some(n) {
            return;
        }
        deadline
            .tick(Duration::from_millis(20), || text.clone())
            .await;
    }
}

async fn counter(edge: &TestEdge, name: &str, label: (&str, &str)) -> f64 {
    metric_value(&edge.metrics().await, name, &[label]).unwrap_or(0.0)
}

/// Polls `/metrics` until `name{label}` reaches `want`.
async fn wait_counter(edge: &TestEdge, name: &str, label: (&str, &str), want: f64) {
    let deadline = Deadline::new(
        format!("{name}{label:?} reaching {want}"),
        Duration::from_secs(5),
    );
    loop {
        let text = edge.metrics().await;
        if metric_value(&text, name, &[label]).unwrap_or(0.0) >= want {
            return;
        }
        deadline
            .tick(Duration::from_millis(20), || text.clone())
            .await;
    }
}

const TIMEOUTS: &str = "hls_edge_connection_timeouts_total";
const REFUSED: &str = "hls_edge_connections_refused_total";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_silent_connection_is_closed_after_the_idle_timeout() {
    let origin = CountingOrigin::start();
    let edge = edge_with(
        origin.addr(),
        "  idle_timeout: 1s\n  keepalive_timeout: 30s\n",
    )
    .await;
    let mut client = connect(&edge).await;
    let started = Instant::now();
    let closed = client.closed_within(Duration::from_secs(5)).await;
    let took = started.elapsed();
    assert_eq!(
        closed.as_deref(),
        Some(&b""[..]),
        "not closed (or not silently)"
    );
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_secs(4),
        "closed after {took:?}"
    );
    wait_counter(&edge, TIMEOUTS, ("phase", "idle"), 1.0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_idle_kept_alive_connection_is_closed_after_the_keepalive_timeout() {
    let origin = CountingOrigin::start();
    origin.set("/pub/a.ts", Reply::segment(100));
    let edge = edge_with(
        origin.addr(),
        "  keepalive_timeout: 1s\n  idle_timeout: 30s\n",
    )
    .await;
    let mut client = connect(&edge).await;
    assert_eq!(
        client.get("/pub/a.ts", &[]).await.expect("first").status,
        200
    );
    // a request inside the window is served on the same connection
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        client.get("/pub/a.ts", &[]).await.expect("second").status,
        200
    );
    let started = Instant::now();
    let closed = client.closed_within(Duration::from_secs(5)).await;
    let took = started.elapsed();
    assert_eq!(
        closed.as_deref(),
        Some(&b""[..]),
        "kept open after its keep-alive"
    );
    assert!(
        took >= Duration::from_millis(800) && took < Duration::from_secs(4),
        "closed after {took:?}"
    );
    wait_counter(&edge, TIMEOUTS, ("phase", "keepalive"), 1.0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_slowloris_header_is_cut_at_the_header_deadline() {
    let origin = RecordingOrigin::start();
    let edge = edge_with(origin.addr(), "  header_timeout: 1s\n  idle_timeout: 30s\n").await;
    let stream = tokio::net::TcpStream::connect(edge.addr())
        .await
        .expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    // a byte every 200 ms: every read is quick, the header never ends
    let trickle = tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        let _ = writer
            .write_all(b"GET /pub/slow.ts HTTP/1.1\r\nHost: x\r\n")
            .await;
        for _ in 0..50 {
            if writer.write_all(b"X").await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    let started = Instant::now();
    let mut seen = Vec::new();
    let read = async {
        use tokio::io::AsyncReadExt;
        let mut chunk = [0u8; 4096];
        loop {
            match reader.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => seen.extend_from_slice(&chunk[..n]),
            }
        }
    };
    let cut = tokio::time::timeout(Duration::from_secs(6), read)
        .await
        .is_ok();
    trickle.abort();
    let took = started.elapsed();
    assert!(cut, "a header trickling for {took:?} was never cut");
    assert!(took < Duration::from_secs(4), "cut only after {took:?}");
    let text = String::from_utf8_lossy(&seen);
    assert!(text.starts_with("HTTP/1.1 408"), "{text:?}");
    assert_eq!(origin.received_text(), "");
    wait_counter(&edge, TIMEOUTS, ("phase", "header"), 1.0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_that_stops_reading_is_cut_after_the_send_timeout() {
    let origin = CountingOrigin::start();
    let size = 48 * 1024 * 1024;
    origin.set("/pub/big.ts", Reply::segment(size));
    let edge = edge_with(origin.addr(), "  send_timeout: 1s\n").await;
    let mut client = connect(&edge).await;
    client
        .send_raw(b"GET /pub/big.ts HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("send");
    // read nothing while the edge's writes stall, then drain
    tokio::time::sleep(Duration::from_secs(4)).await;
    let received = client
        .closed_within(Duration::from_secs(20))
        .await
        .expect("the connection ends");
    assert!(
        received.len() < size,
        "the whole {size}-byte body arrived: the stalled writer was never cut"
    );
    wait_counter(&edge, TIMEOUTS, ("phase", "send"), 1.0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connections_are_capped_per_client_address() {
    let origin = CountingOrigin::start();
    origin.set("/pub/a.ts", Reply::segment(100));
    let edge = edge_with(
        origin.addr(),
        "  max: 100\n  max_per_client: 3\n  idle_timeout: 30s\n",
    )
    .await;
    connections_open(&edge, 0.0).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut c = connect(&edge).await;
        assert_eq!(c.get("/pub/a.ts", &[]).await.expect("served").status, 200);
        held.push(c);
    }
    let open = metric_value(&edge.metrics().await, "hls_edge_connections_open", &[]);
    assert_eq!(open, Some(3.0));
    let mut fourth = connect(&edge).await;
    let refused = fourth.closed_within(Duration::from_secs(5)).await;
    let text = String::from_utf8_lossy(refused.as_deref().unwrap_or(b"<still open>")).into_owned();
    assert!(text.starts_with("HTTP/1.1 429"), "{text}");
    wait_counter(&edge, REFUSED, ("reason", "per-client"), 1.0).await;
    // a closed connection frees its place
    drop(held.pop());
    let deadline = Deadline::new(
        "a place freed by a closed connection",
        Duration::from_secs(5),
    );
    loop {
        let mut again = connect(&edge).await;
        if let Ok(r) = again.get("/pub/a.ts", &[]).await {
            if r.status == 200 {
                break;
            }
            assert_eq!(r.status, 429, "{}", r.text());
        }
        deadline.tick(Duration::from_millis(50), String::new).await;
    }
    assert_eq!(
        origin.hits("/pub/a.ts"),
        1,
        "one fetch, the rest from the cache"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn connections_are_capped_in_all() {
    let origin = CountingOrigin::start();
    let edge = edge_with(
        origin.addr(),
        "  max: 2\n  max_per_client: 50\n  idle_timeout: 30s\n",
    )
    .await;
    connections_open(&edge, 0.0).await;
    let _a = connect(&edge).await;
    let _b = connect(&edge).await;
    // the two are counted once the edge has accepted them
    connections_open(&edge, 2.0).await;
    let mut third = connect(&edge).await;
    let refused = third.closed_within(Duration::from_secs(5)).await;
    let text = String::from_utf8_lossy(refused.as_deref().unwrap_or(b"<still open>")).into_owned();
    assert!(text.starts_with("HTTP/1.1 503"), "{text}");
    assert_eq!(counter(&edge, REFUSED, ("reason", "max")).await, 1.0);
}
