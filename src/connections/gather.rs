//! `Gather`: a response's small writes held back and sent together with the
//! write that follows them, in one vectored write.
//!
//! Pingora writes a response header into its connection's write buffer and,
//! for a body larger than that buffer, flushes the header on its own before
//! writing the body: two `sendto` calls and, with `TCP_NODELAY`, two packets
//! the player's side wakes up for. Held here instead, the header goes out in
//! one `writev` with the first body write. What is held never waits longer
//! than it would have in Pingora's buffer: it is written at the first write
//! that would not fit in [`HOLD_MAX`] bytes (Pingora's own write buffer size),
//! at every flush, and before a shutdown.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::AsyncWrite;

/// Bytes held at most: the size of Pingora's connection write buffer, so a
/// write is held exactly when Pingora would have buffered it.
pub const HOLD_MAX: usize = 1460;

/// Small writes held for the next write or flush (see the module docs).
#[derive(Debug, Default)]
pub struct Gather {
    held: Vec<u8>,
}

impl Gather {
    /// Writes `buf` to `inner`: held if it fits with what is held, otherwise
    /// sent after what is held in one vectored write. Returns how many bytes
    /// of `buf` were taken, as `AsyncWrite::poll_write` does.
    pub fn poll_write<W: AsyncWrite + Unpin>(
        &mut self,
        inner: &mut W,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.held.len() + buf.len() <= HOLD_MAX {
            if self.held.capacity() == 0 {
                self.held.reserve_exact(HOLD_MAX);
            }
            self.held.extend_from_slice(buf);
            return Poll::Ready(Ok(buf.len()));
        }
        while !self.held.is_empty() {
            let slices = [io::IoSlice::new(&self.held), io::IoSlice::new(buf)];
            let written = ready!(Pin::new(&mut *inner).poll_write_vectored(cx, &slices))?;
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            if written >= self.held.len() {
                let of_buf = written - self.held.len();
                self.held.clear();
                if of_buf > 0 {
                    return Poll::Ready(Ok(of_buf));
                }
            } else {
                self.held.drain(..written);
            }
        }
        Pin::new(inner).poll_write(cx, buf)
    }

    /// Writes out everything held (not flushing `inner`).
    pub fn poll_release<W: AsyncWrite + Unpin>(
        &mut self,
        inner: &mut W,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        while !self.held.is_empty() {
            let written = ready!(Pin::new(&mut *inner).poll_write(cx, &self.held))?;
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.held.drain(..written);
        }
        Poll::Ready(Ok(()))
    }

    /// Bytes held now.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// What is held, for a caller that writes it to the socket itself.
    pub fn held_bytes(&self) -> &[u8] {
        &self.held
    }

    /// The first `n` held bytes were written by the caller.
    pub fn consumed(&mut self, n: usize) {
        self.held.drain(..n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::task::Waker;

    /// A writer that records each call and takes at most `limit` bytes per
    /// call, or answers `Pending` while `blocked`.
    #[derive(Default)]
    struct Recorder {
        calls: Vec<(&'static str, usize)>,
        data: Vec<u8>,
        limit: Option<usize>,
        blocked: bool,
    }

    impl Recorder {
        fn take(
            &mut self,
            call: &'static str,
            bufs: &[io::IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            if self.blocked {
                return Poll::Pending;
            }
            let mut room = self.limit.unwrap_or(usize::MAX);
            let mut taken = 0;
            for b in bufs {
                let n = b.len().min(room);
                self.data.extend_from_slice(&b[..n]);
                room -= n;
                taken += n;
            }
            self.calls.push((call, taken));
            Poll::Ready(Ok(taken))
        }
    }

    impl AsyncWrite for Recorder {
        fn poll_write(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.get_mut().take("write", &[io::IoSlice::new(buf)])
        }

        fn poll_write_vectored(
            self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            bufs: &[io::IoSlice<'_>],
        ) -> Poll<io::Result<usize>> {
            self.get_mut().take("writev", bufs)
        }

        fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn is_write_vectored(&self) -> bool {
            true
        }
    }

    fn cx() -> Context<'static> {
        Context::from_waker(Waker::noop())
    }

    /// Writes all of `buf` as `write_all` would, polling once per step.
    fn write_all(g: &mut Gather, w: &mut Recorder, mut buf: &[u8]) {
        while !buf.is_empty() {
            match g.poll_write(w, &mut cx(), buf) {
                Poll::Ready(Ok(n)) => buf = &buf[n..],
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    #[test]
    fn a_header_goes_out_with_the_large_body_that_follows_it() {
        let (mut g, mut w) = (Gather::default(), Recorder::default());
        let header = vec![b'h'; 300];
        let body = vec![b'b'; 750_000];
        write_all(&mut g, &mut w, &header);
        assert!(w.calls.is_empty(), "the header is held");
        write_all(&mut g, &mut w, &body);
        assert_eq!(w.calls, vec![("writev", 750_300)]);
        assert_eq!(w.data, [header, body].concat());
        assert_eq!(g.held(), 0);
    }

    #[test]
    fn small_writes_wait_for_the_flush() {
        let (mut g, mut w) = (Gather::default(), Recorder::default());
        write_all(&mut g, &mut w, b"HTTP/1.1 200 OK\r\n\r\n");
        write_all(&mut g, &mut w, b"#EXTM3U\n");
        assert!(w.calls.is_empty());
        assert!(g.poll_release(&mut w, &mut cx()).is_ready());
        assert_eq!(w.calls, vec![("write", 27)]);
        assert_eq!(w.data, b"HTTP/1.1 200 OK\r\n\r\n#EXTM3U\n");
    }

    #[test]
    fn a_write_that_would_overflow_the_hold_sends_both() {
        let (mut g, mut w) = (Gather::default(), Recorder::default());
        write_all(&mut g, &mut w, &[1; 1000]);
        write_all(&mut g, &mut w, &[2; 1000]);
        assert_eq!(w.calls, vec![("writev", 2000)]);
    }

    #[test]
    fn partial_writes_keep_the_order_and_lose_nothing() {
        let (mut g, mut w) = (Gather::default(), Recorder::default());
        w.limit = Some(128);
        let header: Vec<u8> = (0..300u32).map(|i| i as u8).collect();
        let body: Vec<u8> = (0..5000u32).map(|i| (i * 7) as u8).collect();
        write_all(&mut g, &mut w, &header);
        write_all(&mut g, &mut w, &body);
        assert!(g.poll_release(&mut w, &mut cx()).is_ready());
        assert_eq!(w.data, [header, body].concat());
    }

    #[test]
    fn a_blocked_socket_takes_nothing_and_keeps_what_is_held() {
        let (mut g, mut w) = (Gather::default(), Recorder::default());
        write_all(&mut g, &mut w, b"header");
        w.blocked = true;
        assert!(g.poll_write(&mut w, &mut cx(), &[0; 4000]).is_pending());
        assert!(g.poll_release(&mut w, &mut cx()).is_pending());
        assert_eq!(g.held(), 6);
        w.blocked = false;
        write_all(&mut g, &mut w, &[0; 4000]);
        assert_eq!(&w.data[..6], b"header");
        assert_eq!(w.data.len(), 4006);
    }
}
