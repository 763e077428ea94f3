//! What the counting origin answers for a path: status, headers, body and,
//! above all, how the body is framed and whether it is delivered whole.
//!
//! Built with chained calls: `Reply::ok(body, "video/mp2t").chunked().delay(d)`.
//! Writing a reply on a socket lives here too, so a reply's behaviour is read
//! in one place.

use std::io;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use super::playlist::{pattern_body, PLAYLIST_TYPE, SEGMENT_TYPE};
use super::wire::{encode_chunk, LAST_CHUNK};

/// How the body is delimited on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyFraming {
    ContentLength,
    /// Chunks of at most this many bytes, then the 0-size chunk.
    Chunked(usize),
    /// No Content-Length, not chunked: the body ends when the connection closes.
    Unframed,
}

/// A scripted origin response.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    /// Sent after the framing header, in order; `content-type` replaces the default.
    pub headers: Vec<(String, String)>,
    pub content_type: Option<String>,
    pub body: Bytes,
    pub framing: ReplyFraming,
    /// Send only this many body bytes (chunked: no final chunk), then close.
    pub cut_after: Option<usize>,
    /// Close with a TCP reset instead of a FIN (after the cut, or after the body).
    pub reset: bool,
    /// Send `Connection: close` and close after this reply.
    pub close: bool,
    /// Wait before the head.
    pub delay: Duration,
    /// Wait between the head and the body.
    pub body_delay: Duration,
    /// Read the request, never answer.
    pub hang: bool,
    /// Send this many body bytes, then wait this long before the rest (an origin
    /// still producing the object).
    pub pause: Option<(usize, Duration)>,
}

impl Reply {
    /// 200 with `Content-Length`.
    pub fn ok(body: impl Into<Bytes>, content_type: &str) -> Reply {
        Reply {
            status: 200,
            headers: Vec::new(),
            content_type: Some(content_type.to_string()),
            body: body.into(),
            framing: ReplyFraming::ContentLength,
            cut_after: None,
            reset: false,
            close: false,
            delay: Duration::ZERO,
            body_delay: Duration::ZERO,
            hang: false,
            pause: None,
        }
    }

    /// Any status with a small text body (`404 Not Found\n`).
    pub fn status(code: u16) -> Reply {
        let reason = reason_phrase(code);
        Reply::ok(format!("{code} {reason}\n"), "text/plain").with_status(code)
    }

    /// A 200 media segment of `len` deterministic bytes (`pattern_body(len, 0)`).
    pub fn segment(len: usize) -> Reply {
        Reply::ok(pattern_body(len, 0), SEGMENT_TYPE)
    }

    /// A 200 playlist (`application/vnd.apple.mpegurl`).
    pub fn playlist(text: impl Into<String>) -> Reply {
        Reply::ok(text.into(), PLAYLIST_TYPE)
    }

    /// `Content-Length: declared_len` but only `sent_bytes` of
    /// `pattern_body(declared_len, 0)` are sent before the connection closes:
    /// an origin that dies mid-body.
    pub fn truncated(declared_len: usize, sent_bytes: usize) -> Reply {
        Reply::ok(pattern_body(declared_len, 0), SEGMENT_TYPE).cut_after(sent_bytes)
    }

    /// 200 with neither Content-Length nor chunked coding: the body ends at
    /// connection close (add `.cut_after(n)` to end it early).
    pub fn unframed(body: impl Into<Bytes>) -> Reply {
        let mut reply = Reply::ok(body, SEGMENT_TYPE);
        reply.framing = ReplyFraming::Unframed;
        reply
    }

    /// Accepts and reads the request, never answers (for read timeouts). The
    /// request is still counted.
    pub fn hang() -> Reply {
        let mut reply = Reply::status(504);
        reply.hang = true;
        reply
    }

    /// Chunked coding in chunks of up to 1000 bytes.
    pub fn chunked(self) -> Reply {
        self.chunk_size(1000)
    }

    /// Chunked coding in chunks of up to `size` bytes.
    pub fn chunk_size(mut self, size: usize) -> Reply {
        self.framing = ReplyFraming::Chunked(size.max(1));
        self
    }

    pub fn with_status(mut self, code: u16) -> Reply {
        self.status = code;
        self
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Reply {
        if name.eq_ignore_ascii_case("content-type") {
            self.content_type = Some(value.to_string());
        } else {
            self.headers.push((name.to_string(), value.to_string()));
        }
        self
    }

    pub fn delay(mut self, before_head: Duration) -> Reply {
        self.delay = before_head;
        self
    }

    pub fn body_delay(mut self, after_head: Duration) -> Reply {
        self.body_delay = after_head;
        self
    }

    /// Sends `body_bytes` of the body, waits `wait`, then sends the rest.
    pub fn pause_after(mut self, body_bytes: usize, wait: Duration) -> Reply {
        self.pause = Some((body_bytes, wait));
        self
    }

    pub fn cut_after(mut self, body_bytes: usize) -> Reply {
        self.cut_after = Some(body_bytes);
        self
    }

    /// End the connection with a TCP reset (RST) instead of a FIN.
    pub fn reset(mut self) -> Reply {
        self.reset = true;
        self
    }

    pub fn close(mut self) -> Reply {
        self.close = true;
        self
    }

    /// Whether the connection must end after this reply.
    fn ends_connection(&self, keep_alive: bool) -> bool {
        !keep_alive
            || self.close
            || self.reset
            || self.cut_after.is_some()
            || self.framing == ReplyFraming::Unframed
    }

    fn head(&self, closes: bool) -> Vec<u8> {
        let mut head = format!(
            "HTTP/1.1 {} {}\r\n",
            self.status,
            reason_phrase(self.status)
        );
        if let Some(ct) = &self.content_type {
            head.push_str(&format!("Content-Type: {ct}\r\n"));
        }
        match self.framing {
            ReplyFraming::ContentLength => {
                head.push_str(&format!("Content-Length: {}\r\n", self.body.len()))
            }
            ReplyFraming::Chunked(_) => head.push_str("Transfer-Encoding: chunked\r\n"),
            ReplyFraming::Unframed => {}
        }
        for (k, v) in &self.headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        if closes {
            head.push_str("Connection: close\r\n");
        }
        head.push_str("\r\n");
        head.into_bytes()
    }

    fn body_wire(&self) -> Vec<u8> {
        let sent = &self.body[..self.cut_after.unwrap_or(usize::MAX).min(self.body.len())];
        match self.framing {
            ReplyFraming::Chunked(size) => {
                let mut wire: Vec<u8> = sent.chunks(size).flat_map(encode_chunk).collect();
                if self.cut_after.is_none() {
                    wire.extend_from_slice(LAST_CHUNK);
                }
                wire
            }
            _ => sent.to_vec(),
        }
    }

    /// Writes this reply; `Ok(true)` when the connection may carry another
    /// request. On `Ok(false)` the connection has been shut down (or is set to
    /// reset on drop) and must be dropped.
    pub async fn write_to(
        &self,
        stream: &mut TcpStream,
        head_only: bool,
        keep_alive: bool,
    ) -> io::Result<bool> {
        if self.hang {
            std::future::pending::<()>().await;
        }
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        let closes = self.ends_connection(keep_alive);
        stream.write_all(&self.head(closes)).await?;
        stream.flush().await?;
        if !head_only {
            if !self.body_delay.is_zero() {
                tokio::time::sleep(self.body_delay).await;
            }
            let wire = self.body_wire();
            let (first, wait) = self.pause.unwrap_or((wire.len(), Duration::ZERO));
            let (now, later) = wire.split_at(first.min(wire.len()));
            stream.write_all(now).await?;
            stream.flush().await?;
            if !later.is_empty() {
                tokio::time::sleep(wait).await;
                stream.write_all(later).await?;
                stream.flush().await?;
            }
        }
        if self.reset {
            stream.set_zero_linger()?;
        } else if closes {
            stream.shutdown().await?;
        }
        Ok(!closes)
    }
}

/// `Not Found` for 404; empty for codes without a canonical phrase.
pub fn reason_phrase(code: u16) -> &'static str {
    http::StatusCode::from_u16(code)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
}
