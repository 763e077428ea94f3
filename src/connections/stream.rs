//! `GuardedStream`: a client connection as Pingora reads it, with the
//! connection's [`Clock`] enforced on reads and its [`Permit`] held until it
//! closes.
//!
//! Pingora's own read timeout applies to each read, so a client sending one
//! header byte per minute is never cut, and a kept-alive HTTP/1.1 connection
//! has no limit at all once its first request is answered. Here the limit
//! is on the phase: a read that would wait past the phase's deadline fails
//! (`TimedOut`), which ends the connection. A header cut short is answered
//! `408 Request Timeout` with `Connection: close` first (RFC 9110 15.5.9), a
//! silent connection is simply closed (RFC 9112 9.5).
//!
//! Writes go through a [`Gather`], so a response header leaves in one
//! vectored write with the body that follows it. On a plaintext TCP
//! connection, a write of a sealed body's bytes (`crate::sealed`) is sent
//! from its file with `sendfile` instead (`sendfile.rs`). Everything else
//! (TLS and socket digests, peeking) is the inner stream's.

use std::future::Future;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use async_trait::async_trait;
use parking_lot::Mutex;
use pingora::protocols::l4::stream::Stream as TcpStream;
use pingora::protocols::raw_connect::ProxyDigest;
use pingora::protocols::tls::{SslDigest, TlsRef};
use pingora::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, SocketDigest, Ssl, Stream,
    TimingDigest, UniqueID, UniqueIDType, ALPN, IO,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

use super::book::Permit;
use super::clock::{Clock, TimeoutPhase};
use super::gather::Gather;
use super::report;
use super::sendfile::{self, Sent, SENDFILE_MIN};
use crate::sealed;

const REQUEST_TIMEOUT: &[u8] =
    b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";

/// The HTTP/2 connection preface (RFC 9113 3.4): a cleartext connection that
/// opens with it speaks h2c.
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// See the module docs.
pub struct GuardedStream {
    inner: Stream,
    /// `None` for an HTTP/2 connection: its requests are multiplexed, it has
    /// no header phase of its own (its idle limit is Pingora's).
    clock: Option<Arc<Mutex<Clock>>>,
    /// Bytes of the HTTP/2 preface matched so far by a clocked connection's
    /// first reads; `None` once decided. An h2c connection (prior knowledge,
    /// on a listener with `h2c: true`) loses its clock like a TLS h2 one:
    /// its requests are streams, it has no header phase of its own.
    preface_seen: Option<usize>,
    sleep: Option<Pin<Box<Sleep>>>,
    cut: bool,
    gather: Gather,
    /// The socket of a plaintext TCP connection, which can send sealed
    /// bodies with `sendfile`; `None` for TLS, or once `sendfile` failed.
    sendfile_to: Option<RawFd>,
    _permit: Permit,
}

impl std::fmt::Debug for GuardedStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardedStream")
            .field("inner", &self.inner)
            .field("cut", &self.cut)
            .finish_non_exhaustive()
    }
}

impl GuardedStream {
    pub fn new(inner: Stream, clock: Option<Clock>, permit: Permit) -> GuardedStream {
        let io: &dyn IO = &*inner;
        let sendfile_to = io
            .as_any()
            .downcast_ref::<TcpStream>()
            .map(|tcp| tcp.as_raw_fd());
        GuardedStream {
            sendfile_to,
            inner,
            preface_seen: clock.as_ref().map(|_| 0),
            clock: clock.map(|c| Arc::new(Mutex::new(c))),
            sleep: None,
            cut: false,
            gather: Gather::default(),
            _permit: permit,
        }
    }

    /// The clock the proxy moves on (request started, finished).
    pub fn clock(&self) -> Option<&Arc<Mutex<Clock>>> {
        self.clock.as_ref()
    }

    /// Follows the first bytes read: the whole HTTP/2 preface drops the
    /// clock (the connection is h2c), anything else keeps it.
    fn notice_preface(&mut self, data: &[u8]) {
        let Some(seen) = self.preface_seen else {
            return;
        };
        let want = &H2_PREFACE[seen..];
        let n = data.len().min(want.len());
        if data[..n] != want[..n] {
            self.preface_seen = None;
        } else if seen + n == H2_PREFACE.len() {
            self.preface_seen = None;
            self.clock = None;
            self.sleep = None;
        } else {
            self.preface_seen = Some(seen + n);
        }
    }

    /// `Ready` once the current phase's deadline has passed.
    fn poll_deadline(&mut self, cx: &mut Context<'_>) -> Poll<TimeoutPhase> {
        let Some(clock) = &self.clock else {
            return Poll::Pending;
        };
        let Some((deadline, phase)) = clock.lock().deadline() else {
            return Poll::Pending;
        };
        let deadline = tokio::time::Instant::from_std(deadline);
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.deadline() != deadline {
            sleep.as_mut().reset(deadline);
        }
        sleep.as_mut().poll(cx).map(|()| phase)
    }

    fn cut_off(&mut self, cx: &mut Context<'_>, phase: TimeoutPhase) -> io::Error {
        self.cut = true;
        if phase == TimeoutPhase::Header {
            // best effort: a small write into an idle socket's buffer
            let inner = Pin::new(&mut self.inner);
            if let Poll::Ready(Ok(_)) = inner.poll_write(cx, REQUEST_TIMEOUT) {
                let _ = Pin::new(&mut self.inner).poll_flush(cx);
            }
        }
        report::timed_out(phase);
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!("connection {} timeout", phase.label()),
        )
    }
}

impl AsyncRead for GuardedStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.cut {
            return Poll::Ready(Err(io::ErrorKind::TimedOut.into()));
        }
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    this.notice_preface(&buf.filled()[before..]);
                    if let Some(clock) = &this.clock {
                        clock.lock().bytes_arrived(Instant::now());
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => match this.poll_deadline(cx) {
                Poll::Ready(phase) => Poll::Ready(Err(this.cut_off(cx, phase))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl AsyncWrite for GuardedStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let Some(fd) = this.sendfile_to.filter(|_| buf.len() >= SENDFILE_MIN) {
            if let Some(source) = sealed::source_of(buf) {
                match sendfile::poll_send(&mut this.gather, &mut this.inner, fd, source, cx, buf) {
                    Sent::Done(poll) => return poll,
                    Sent::Unsupported => {
                        this.sendfile_to = None;
                        sendfile::count_refusal();
                    }
                }
            }
        }
        this.gather.poll_write(&mut this.inner, cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.gather.poll_release(&mut this.inner, cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.gather.poll_release(&mut this.inner, cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.gather.poll_release(&mut this.inner, cx))?;
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[async_trait]
impl Shutdown for GuardedStream {
    async fn shutdown(&mut self) {
        let (gather, inner) = (&mut self.gather, &mut self.inner);
        let _ = std::future::poll_fn(|cx| gather.poll_release(inner, cx)).await;
        self.inner.shutdown().await
    }
}

impl UniqueID for GuardedStream {
    fn id(&self) -> UniqueIDType {
        self.inner.id()
    }
}

impl Ssl for GuardedStream {
    fn get_ssl(&self) -> Option<&TlsRef> {
        self.inner.get_ssl()
    }

    fn get_ssl_digest(&self) -> Option<Arc<SslDigest>> {
        self.inner.get_ssl_digest()
    }

    fn selected_alpn_proto(&self) -> Option<ALPN> {
        self.inner.selected_alpn_proto()
    }
}

impl GetTimingDigest for GuardedStream {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.inner.get_timing_digest()
    }

    fn get_read_pending_time(&self) -> std::time::Duration {
        self.inner.get_read_pending_time()
    }

    fn get_write_pending_time(&self) -> std::time::Duration {
        self.inner.get_write_pending_time()
    }
}

impl GetProxyDigest for GuardedStream {
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        self.inner.get_proxy_digest()
    }

    fn set_proxy_digest(&mut self, digest: ProxyDigest) {
        self.inner.set_proxy_digest(digest)
    }
}

impl GetSocketDigest for GuardedStream {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.inner.get_socket_digest()
    }

    fn set_socket_digest(&mut self, digest: SocketDigest) {
        self.inner.set_socket_digest(digest)
    }
}

#[async_trait]
impl Peek for GuardedStream {
    async fn try_peek(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        self.inner.try_peek(buf).await
    }
}
