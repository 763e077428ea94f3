//! A raw HTTP/1.1 client for asserting what a player sees: status, headers,
//! body bytes, and whether the body arrived whole.
//!
//! Truncation contract: once a response head has arrived the call returns
//! `Ok(Response)`; a body cut short (Content-Length not reached, chunked body
//! without its 0-size chunk, reset or timeout mid-body) gives
//! `complete == false` with `incomplete_reason`. `Err(ClientError)` means there
//! is no response to look at (connect failure, timeout or close before a head).
//! A close-delimited body (`framing == Framing::CloseDelimited`) is complete
//! on a clean close: HTTP cannot tell it was short, so assert on `framing`
//! when that matters.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::Barrier;

pub use super::wire::Framing;
use super::wire::{find_header, response_framing, Conn};

/// Connect and read timeout of every client in the kit unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// A response as the client saw it.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    /// `HTTP/1.1` or `HTTP/1.0`.
    pub version: String,
    /// In arrival order, names as sent.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// False when the body ended before its framing said it would.
    pub complete: bool,
    pub framing: Framing,
    /// Why `complete` is false, e.g. `connection closed after 400 of 1000 bytes`.
    pub incomplete_reason: Option<String>,
}

impl Response {
    /// First value of `name`, case-insensitive.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// Every value of `name` in order (a field may be sent on several lines).
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The body as text (lossy), for playlists and error messages.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Why there is no response at all.
#[derive(Debug)]
pub enum ClientError {
    Connect {
        addr: String,
        source: io::Error,
    },
    ConnectTimeout {
        addr: String,
        after: Duration,
    },
    /// No complete response head within the timeout.
    Timeout(Duration),
    /// The server closed the connection before a response head.
    Closed,
    /// Reset or another I/O error before a response head.
    Io(io::Error),
    /// The response head is not HTTP/1.x.
    Malformed(String),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Connect { addr, source } => {
                write!(f, "connect to {addr} failed: {source}")
            }
            ClientError::ConnectTimeout { addr, after } => {
                write!(f, "connect to {addr} timed out after {after:?}")
            }
            ClientError::Timeout(after) => write!(f, "no response head within {after:?}"),
            ClientError::Closed => write!(f, "connection closed before a response head"),
            ClientError::Io(e) => write!(f, "i/o error before a response head: {e}"),
            ClientError::Malformed(line) => write!(f, "malformed response head: {line}"),
        }
    }
}

impl std::error::Error for ClientError {}

/// `127.0.0.1:8080`, a `SocketAddr`, or `http://127.0.0.1:8080/anything` ->
/// `127.0.0.1:8080`.
pub fn host_port(addr: impl fmt::Display) -> String {
    let text = addr.to_string();
    let rest = text.strip_prefix("http://").unwrap_or(&text);
    rest.split('/').next().unwrap_or(rest).to_string()
}

/// One connection kept alive across sequential requests. It never reconnects
/// by itself: a request after the server closed gives `ClientError::Closed`
/// (or `Io`), so keep-alive behaviour stays visible to the test.
/// `S` is the transport: TCP, or TLS over TCP (`tls::https_connect`).
pub struct Client<S = TcpStream> {
    conn: Conn<S>,
    host: String,
    timeout: Duration,
}

impl Client<TcpStream> {
    pub async fn connect(addr: impl fmt::Display) -> Result<Client, ClientError> {
        Client::connect_timeout(addr, DEFAULT_TIMEOUT).await
    }

    /// `timeout` bounds the connect and then every read and write.
    pub async fn connect_timeout(
        addr: impl fmt::Display,
        timeout: Duration,
    ) -> Result<Client, ClientError> {
        let host = host_port(addr);
        let stream = match tokio::time::timeout(timeout, TcpStream::connect(&host)).await {
            Err(_) => {
                return Err(ClientError::ConnectTimeout {
                    addr: host,
                    after: timeout,
                })
            }
            Ok(Err(source)) => return Err(ClientError::Connect { addr: host, source }),
            Ok(Ok(stream)) => stream,
        };
        let _ = stream.set_nodelay(true);
        Ok(Client {
            conn: Conn::new(stream, Some(timeout)),
            host,
            timeout,
        })
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.conn.stream().local_addr().ok()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    /// A client over an established transport; `host` goes in `Host`.
    pub fn over(stream: S, host: &str, timeout: Duration) -> Client<S> {
        Client {
            conn: Conn::new(stream, Some(timeout)),
            host: host.to_string(),
            timeout,
        }
    }

    /// The transport, e.g. to read what the TLS handshake agreed.
    pub fn stream(&self) -> &S {
        self.conn.stream()
    }

    pub async fn get(
        &mut self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<Response, ClientError> {
        self.request("GET", path, headers, &[]).await
    }

    pub async fn head(
        &mut self,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<Response, ClientError> {
        self.request("HEAD", path, headers, &[]).await
    }

    /// Sends one request (adding `Host`, and `Content-Length` when there is a
    /// body or the method is POST/PUT) and reads its response; interim 1xx
    /// responses are skipped.
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Response, ClientError> {
        let mut head = format!("{method} {path} HTTP/1.1\r\n");
        if !headers.iter().any(|(k, _)| k.eq_ignore_ascii_case("host")) {
            head.push_str(&format!("Host: {}\r\n", self.host));
        }
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if !body.is_empty() || method == "POST" || method == "PUT" {
            head.push_str(&format!("Content-Length: {}\r\n", body.len()));
        }
        head.push_str("\r\n");
        let mut wire = head.into_bytes();
        wire.extend_from_slice(body);
        self.conn
            .write_all(&wire)
            .await
            .map_err(|e| self.head_error(e))?;
        self.read_response(method).await
    }

    /// Writes `bytes` as they are: a request the kit would never build
    /// (smuggling, absolute-form, no `Host`, a header sent byte by byte).
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        self.conn
            .write_all(bytes)
            .await
            .map_err(|e| self.head_error(e))
    }

    /// Reads the next response on this connection (to a request sent with
    /// `send_raw`); `method` decides whether a body follows (HEAD).
    pub async fn response(&mut self, method: &str) -> Result<Response, ClientError> {
        self.read_response(method).await
    }

    /// Waits up to `within` for the server to close the connection without
    /// sending anything more; `Some(bytes)` with what arrived before the
    /// close, `None` when it stayed open.
    pub async fn closed_within(&mut self, within: Duration) -> Option<Vec<u8>> {
        self.conn.read_until_close(within).await
    }

    async fn read_response(&mut self, method: &str) -> Result<Response, ClientError> {
        loop {
            let head = match self.conn.read_head().await {
                Ok(Some(head)) => head,
                Ok(None) => return Err(ClientError::Closed),
                Err(e) => return Err(self.head_error(e)),
            };
            let mut parts = head.start_line.splitn(3, ' ');
            let version = parts.next().unwrap_or("").to_string();
            let status: u16 = match parts.next().and_then(|s| s.parse().ok()) {
                Some(status) if version.starts_with("HTTP/1.") => status,
                _ => return Err(ClientError::Malformed(head.start_line.clone())),
            };
            if (100..200).contains(&status) && status != 101 {
                continue;
            }
            let framing = response_framing(method, status, &head);
            let body = self.conn.read_body(framing).await;
            return Ok(Response {
                status,
                version,
                headers: head.headers,
                body: body.bytes,
                complete: body.complete,
                framing,
                incomplete_reason: body.incomplete_reason,
            });
        }
    }

    fn head_error(&self, e: io::Error) -> ClientError {
        match e.kind() {
            io::ErrorKind::TimedOut => ClientError::Timeout(self.timeout),
            io::ErrorKind::UnexpectedEof => ClientError::Closed,
            _ => ClientError::Io(e),
        }
    }
}

/// GET on a fresh connection.
pub async fn http_get(
    addr: impl fmt::Display,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Response, ClientError> {
    Client::connect(addr).await?.get(path, headers).await
}

/// HEAD on a fresh connection.
pub async fn http_head(
    addr: impl fmt::Display,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Response, ClientError> {
    Client::connect(addr).await?.head(path, headers).await
}

/// Any method, with a body, on a fresh connection.
pub async fn http_request(
    addr: impl fmt::Display,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Result<Response, ClientError> {
    Client::connect(addr)
        .await?
        .request(method, path, headers, body)
        .await
}

/// `n` GETs that arrive together: all connections are opened first, then a
/// barrier releases every request at once. Panics if any has no response.
pub async fn concurrent_gets(addr: impl fmt::Display, path: &str, n: usize) -> Vec<Response> {
    concurrent_gets_with(addr, path, &[], n).await
}

/// `concurrent_gets` with request headers. Results are in task order.
pub async fn concurrent_gets_with(
    addr: impl fmt::Display,
    path: &str,
    headers: &[(&str, &str)],
    n: usize,
) -> Vec<Response> {
    let addr = host_port(addr);
    let barrier = Arc::new(Barrier::new(n));
    let owned: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (addr, path, barrier, owned) = (
                addr.clone(),
                path.to_string(),
                barrier.clone(),
                owned.clone(),
            );
            tokio::spawn(async move {
                let client = Client::connect(&addr).await;
                // Wait even when the connect failed, or the others would wait forever.
                barrier.wait().await;
                let headers: Vec<(&str, &str)> = owned
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                client?.get(&path, &headers).await
            })
        })
        .collect();
    let mut responses = Vec::with_capacity(n);
    for (i, task) in tasks.into_iter().enumerate() {
        match task.await.expect("concurrent GET task panicked") {
            Ok(response) => responses.push(response),
            Err(e) => panic!("concurrent GET #{i} of {n} to {addr}{path}: {e}"),
        }
    }
    responses
}

/// A GET answered on a raw connection, with when its first body byte arrived.
#[derive(Debug, Clone)]
pub struct TimedGet {
    pub status: u16,
    /// When the first byte of the body arrived.
    pub first_byte: std::time::Instant,
    /// The body, chunked coding decoded.
    pub body: Vec<u8>,
}

/// GETs `target` on a fresh connection (`Connection: close`) and times the first
/// body byte; panics when no complete answer comes within 15 s.
pub async fn timed_get(addr: SocketAddr, target: &str) -> TimedGet {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let req = format!("GET {target} HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).await.expect("send");
    let (mut wire, mut chunk, mut first) = (Vec::new(), [0u8; 16384], None);
    loop {
        let n = tokio::time::timeout(Duration::from_secs(15), s.read(&mut chunk))
            .await
            .expect("an answer within 15 s")
            .expect("read");
        if n == 0 {
            break;
        }
        wire.extend_from_slice(&chunk[..n]);
        let head = wire.windows(4).position(|w| w == b"\r\n\r\n");
        if first.is_none() && head.is_some_and(|h| wire.len() > h + 4) {
            first = Some(std::time::Instant::now());
        }
    }
    let head_end = wire
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head")
        + 4;
    let head = String::from_utf8_lossy(&wire[..head_end]).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    let payload = &wire[head_end..];
    let body = if head.contains("transfer-encoding: chunked") {
        dechunk(payload)
    } else {
        payload.to_vec()
    };
    TimedGet {
        status,
        first_byte: first.expect("a body"),
        body,
    }
}

/// The payload of a chunked body (RFC 9112 7.1).
fn dechunk(mut wire: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = wire
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("a chunk size");
        let size = std::str::from_utf8(&wire[..line_end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.trim(), 16).ok())
            .expect("a chunk size");
        wire = &wire[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&wire[..size]);
        wire = &wire[size + 2..];
    }
}
