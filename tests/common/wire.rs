//! HTTP/1.1 framing shared by the kit's client and its origin: one buffered
//! connection, message heads, and bodies delimited by Content-Length, chunked
//! coding or connection close (RFC 9112 §6.3, §7.1).
//!
//! No policy here: a body that ends early comes back marked incomplete with the
//! reason, and the caller decides what that means.

use std::io;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// A head larger than this is refused (both sides of the kit).
const MAX_HEAD: usize = 64 * 1024;
/// A chunk-size or trailer line longer than this is refused.
const MAX_LINE: usize = 8 * 1024;

/// How a message body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body: HEAD, 1xx, 204, 304, or a request without a body.
    None,
    /// `Content-Length: N`.
    ContentLength(u64),
    /// `Transfer-Encoding: chunked`, ended by the 0-size chunk.
    Chunked,
    /// Neither: the body ends when the server closes the connection, so a
    /// short body cannot be told from a whole one.
    CloseDelimited,
}

/// The start line and header fields of a message, in arrival order.
#[derive(Debug, Clone)]
pub struct Head {
    pub start_line: String,
    pub headers: Vec<(String, String)>,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }

    /// Whether a comma-separated header (`Connection`, `Transfer-Encoding`)
    /// lists `token`, ignoring case.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }
}

/// First value of header `name`, case-insensitive.
pub fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A body as read: the bytes that arrived, and whether its framing was satisfied.
#[derive(Debug)]
pub struct Body {
    pub bytes: Vec<u8>,
    pub complete: bool,
    pub incomplete_reason: Option<String>,
}

/// One chunk of a chunked body (RFC 9112 §7.1): `<hex size>\r\n<data>\r\n`.
pub fn encode_chunk(data: &[u8]) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

/// The last chunk with an empty trailer section.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// A connection (TCP, or TLS over TCP) with a read buffer; every read and
/// write is bounded by `timeout` when one is set.
pub struct Conn<S = TcpStream> {
    stream: S,
    buf: BytesMut,
    timeout: Option<Duration>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Conn<S> {
    pub fn new(stream: S, timeout: Option<Duration>) -> Conn<S> {
        Conn {
            stream,
            buf: BytesMut::with_capacity(16 * 1024),
            timeout,
        }
    }

    pub fn stream_mut(&mut self) -> &mut S {
        &mut self.stream
    }

    pub fn stream(&self) -> &S {
        &self.stream
    }

    pub async fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        let write = async {
            self.stream.write_all(data).await?;
            self.stream.flush().await
        };
        match self.timeout {
            Some(t) => tokio::time::timeout(t, write)
                .await
                .map_err(|_| timed_out("write", t))?,
            None => write.await,
        }
    }

    /// Reads more bytes into the buffer; `Ok(0)` at end of stream.
    async fn fill(&mut self) -> io::Result<usize> {
        self.buf.reserve(16 * 1024);
        let read = self.stream.read_buf(&mut self.buf);
        match self.timeout {
            Some(t) => tokio::time::timeout(t, read)
                .await
                .map_err(|_| timed_out("read", t))?,
            None => read.await,
        }
    }

    /// The next message head; `Ok(None)` when the peer closed cleanly before
    /// sending any byte of one (an idle keep-alive connection ending).
    pub async fn read_head(&mut self) -> io::Result<Option<Head>> {
        loop {
            if let Some(end) = find(&self.buf, b"\r\n\r\n") {
                let raw = self.buf.split_to(end + 4);
                return parse_head(&raw[..end]).map(Some);
            }
            if self.buf.len() > MAX_HEAD {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "head larger than 64 KiB",
                ));
            }
            if self.fill().await? == 0 {
                if self.buf.is_empty() {
                    return Ok(None);
                }
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed inside a head",
                ));
            }
        }
    }

    /// Reads a body delimited by `framing`. Never fails: an early end, a reset or
    /// a timeout gives `complete: false` and the bytes received so far.
    pub async fn read_body(&mut self, framing: Framing) -> Body {
        let mut bytes = Vec::new();
        let result = match framing {
            Framing::None => Ok(()),
            Framing::ContentLength(n) => self.read_length(&mut bytes, n).await,
            Framing::Chunked => self.read_chunked(&mut bytes).await,
            Framing::CloseDelimited => self.read_to_close(&mut bytes).await,
        };
        let incomplete_reason = result.err().map(|e| e.to_string());
        Body {
            bytes,
            complete: incomplete_reason.is_none(),
            incomplete_reason,
        }
    }

    async fn read_length(&mut self, body: &mut Vec<u8>, len: u64) -> io::Result<()> {
        let start = body.len() as u64;
        let mut remaining = len;
        loop {
            let take = remaining.min(self.buf.len() as u64) as usize;
            body.extend_from_slice(&self.buf[..take]);
            self.buf.advance(take);
            remaining -= take as u64;
            if remaining == 0 {
                return Ok(());
            }
            let got = body.len() as u64 - start;
            match self.fill().await {
                Ok(0) => return Err(short(got, len, "connection closed")),
                Ok(_) => {}
                Err(e) => {
                    return Err(io::Error::new(
                        e.kind(),
                        short(got, len, &e.to_string()).to_string(),
                    ))
                }
            }
        }
    }

    async fn read_chunked(&mut self, body: &mut Vec<u8>) -> io::Result<()> {
        let missing_last = |e: io::Error, len: usize| {
            io::Error::new(
                e.kind(),
                format!("chunked body without its final 0-size chunk after {len} bytes: {e}"),
            )
        };
        loop {
            let line = self
                .read_line()
                .await
                .map_err(|e| missing_last(e, body.len()))?;
            let size_text = line.split(';').next().unwrap_or("").trim();
            let size = u64::from_str_radix(size_text, 16).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("bad chunk size line {line:?}"),
                )
            })?;
            if size == 0 {
                // Trailer section, ended by an empty line.
                loop {
                    let trailer = self
                        .read_line()
                        .await
                        .map_err(|e| missing_last(e, body.len()))?;
                    if trailer.is_empty() {
                        return Ok(());
                    }
                }
            }
            self.read_length(body, size)
                .await
                .map_err(|e| missing_last(e, body.len()))?;
            let end = self
                .read_line()
                .await
                .map_err(|e| missing_last(e, body.len()))?;
            if !end.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "chunk data not followed by CRLF",
                ));
            }
        }
    }

    async fn read_to_close(&mut self, body: &mut Vec<u8>) -> io::Result<()> {
        loop {
            body.extend_from_slice(&self.buf);
            self.buf.clear();
            if self.fill().await? == 0 {
                return Ok(());
            }
        }
    }

    /// Everything up to the peer's close (a reset counts as a close), or
    /// `None` if it is still open after `within`.
    pub async fn read_until_close(&mut self, within: Duration) -> Option<Vec<u8>> {
        let deadline = tokio::time::Instant::now() + within;
        let mut seen = self.buf.split().to_vec();
        loop {
            let mut chunk = [0u8; 16 * 1024];
            match tokio::time::timeout_at(deadline, self.stream.read(&mut chunk)).await {
                Err(_) => return None,
                Ok(Ok(0)) | Ok(Err(_)) => return Some(seen),
                Ok(Ok(n)) => seen.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// One CRLF-terminated line without its CRLF.
    async fn read_line(&mut self) -> io::Result<String> {
        loop {
            if let Some(end) = find(&self.buf, b"\r\n") {
                let raw = self.buf.split_to(end + 2);
                return Ok(String::from_utf8_lossy(&raw[..end]).into_owned());
            }
            if self.buf.len() > MAX_LINE {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "line longer than 8 KiB",
                ));
            }
            if self.fill().await? == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed",
                ));
            }
        }
    }
}

fn short(got: u64, len: u64, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!("{why} after {got} of {len} bytes"),
    )
}

fn timed_out(what: &str, after: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("{what} timed out after {after:?}"),
    )
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn parse_head(raw: &[u8]) -> io::Result<Head> {
    let text = String::from_utf8_lossy(raw);
    let mut lines = text.split("\r\n");
    let start_line = lines.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line.split_once(':').ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad header line {line:?}"),
            )
        })?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    Ok(Head {
        start_line,
        headers,
    })
}

/// How a request body is delimited: requests are never close-delimited
/// (RFC 9112 §6.3 item 7).
pub fn request_framing(head: &Head) -> io::Result<Framing> {
    if head.has_token("transfer-encoding", "chunked") {
        return Ok(Framing::Chunked);
    }
    match head.header("content-length") {
        Some(v) => v.parse().map(Framing::ContentLength).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad content-length {v:?}"),
            )
        }),
        None => Ok(Framing::None),
    }
}

/// How a response body is delimited (RFC 9112 §6.3 items 1-8).
pub fn response_framing(method: &str, status: u16, head: &Head) -> Framing {
    if method.eq_ignore_ascii_case("HEAD")
        || (100..200).contains(&status)
        || status == 204
        || status == 304
    {
        return Framing::None;
    }
    if head.header("transfer-encoding").is_some() {
        return if head.has_token("transfer-encoding", "chunked") {
            Framing::Chunked
        } else {
            Framing::CloseDelimited
        };
    }
    match head.header("content-length").and_then(|v| v.parse().ok()) {
        Some(n) => Framing::ContentLength(n),
        None => Framing::CloseDelimited,
    }
}
