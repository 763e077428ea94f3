//! A write of a sealed body's bytes sent from its file with `sendfile(2)`
//! (see `crate::sealed`): the same bytes, in the same order, without the
//! copy from user memory into the socket.
//!
//! Only a plaintext TCP connection can: TLS must encrypt the bytes itself.
//! Whatever the connection wrote before must be on the wire first, so the
//! response header held by the [`Gather`] goes out just ahead with `MSG_MORE`
//! (the kernel puts it in the same packet as the body's first bytes, as a
//! `writev` of both did), after Pingora's own write buffer is flushed.
//!
//! When the socket is full, the write falls back to the stream's ordinary
//! write for that call: it registers the wake-up (or copies what now fits).

use std::io;
use std::os::fd::RawFd;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{ready, Context, Poll};

use pingora::protocols::Stream;
use tokio::io::AsyncWrite;

use super::gather::Gather;
use crate::metrics;

/// Below this a write is copied: a sealed body's tail after a partial send,
/// or any small body (never sealed) that need not be looked up.
pub const SENDFILE_MIN: usize = 16 * 1024;

static REFUSAL_LOGGED: AtomicBool = AtomicBool::new(false);

/// Counts a connection that stops using `sendfile` because the kernel
/// refused it (`hls_edge_sealed_fallbacks_total{reason="sendfile"}`); the
/// first is logged.
pub fn count_refusal() {
    metrics::SEALED_FALLBACKS
        .with_label_values(&["sendfile"])
        .inc();
    if !REFUSAL_LOGGED.swap(true, Ordering::Relaxed) {
        tracing::warn!("the kernel refused sendfile on a connection: its sealed bodies are copied into the socket instead");
    }
}

/// What a `sendfile` attempt came to.
pub enum Sent {
    /// The write's result, as `AsyncWrite::poll_write` gives it.
    Done(Poll<io::Result<usize>>),
    /// The kernel cannot send from this file to this socket: the connection
    /// should copy from now on.
    Unsupported,
}

/// Writes `buf`, which is `source` (a sealed file and the offset of `buf` in
/// it), to the socket `fd` under `inner`.
pub fn poll_send(
    gather: &mut Gather,
    inner: &mut Stream,
    fd: RawFd,
    source: (RawFd, u64),
    cx: &mut Context<'_>,
    buf: &[u8],
) -> Sent {
    match poll_send_held(gather, inner, fd, cx) {
        Poll::Ready(Ok(())) => {}
        Poll::Ready(Err(e)) => return Sent::Done(Poll::Ready(Err(e))),
        Poll::Pending => return Sent::Done(Poll::Pending),
    }
    let (file, offset) = source;
    loop {
        let Ok(mut offset) = libc::off_t::try_from(offset) else {
            return Sent::Unsupported;
        };
        // SAFETY: a system call on two open descriptors: `fd` is the socket
        // `inner` owns, `file` the sealed file that `buf` (borrowed) keeps open.
        let n = unsafe { libc::sendfile(fd, file, &mut offset, buf.len()) };
        if n > 0 {
            metrics::SENDFILE_BYTES.inc_by(n as u64);
            return Sent::Done(Poll::Ready(Ok(n as usize)));
        }
        if n == 0 {
            return Sent::Unsupported;
        }
        let e = io::Error::last_os_error();
        return match e.kind() {
            io::ErrorKind::Interrupted => continue,
            io::ErrorKind::WouldBlock => Sent::Done(Pin::new(inner).poll_write(cx, buf)),
            _ if matches!(
                e.raw_os_error(),
                Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP)
            ) =>
            {
                Sent::Unsupported
            }
            _ => Sent::Done(Poll::Ready(Err(e))),
        };
    }
}

/// Puts what was written before on the wire: Pingora's write buffer, then
/// the held header with `MSG_MORE`. `Pending` (with the wake-up registered)
/// while the socket is full; what is still held then is in `gather`.
fn poll_send_held(
    gather: &mut Gather,
    inner: &mut Stream,
    fd: RawFd,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    ready!(Pin::new(&mut *inner).poll_flush(cx))?;
    while gather.held() > 0 {
        let held = gather.held_bytes();
        // SAFETY: sends from a valid buffer on the socket `inner` owns.
        let n = unsafe {
            libc::send(
                fd,
                held.as_ptr().cast(),
                held.len(),
                libc::MSG_MORE | libc::MSG_NOSIGNAL,
            )
        };
        if n > 0 {
            gather.consumed(n as usize);
            continue;
        }
        if n == 0 {
            return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
        }
        let e = io::Error::last_os_error();
        match e.kind() {
            io::ErrorKind::Interrupted => continue,
            // through the stream, which waits for room (Pingora's buffer takes it first)
            io::ErrorKind::WouldBlock => {
                ready!(gather.poll_release(inner, cx))?;
                ready!(Pin::new(&mut *inner).poll_flush(cx))?;
            }
            _ => return Poll::Ready(Err(e)),
        }
    }
    Poll::Ready(Ok(()))
}

#[cfg(test)]
mod tests {
    use std::os::fd::AsRawFd;
    use std::time::Duration;

    use bytes::Bytes;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    use super::super::book::ConnectionBook;
    use super::super::stream::GuardedStream;
    use crate::metrics;
    use crate::sealed;

    fn body(len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (i % 251) as u8 ^ (i >> 12) as u8)
            .collect()
    }

    /// A guarded plaintext connection (server side) and its client.
    async fn pair(send_buffer: Option<i32>) -> (GuardedStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        server.set_nodelay(true).unwrap();
        if let Some(size) = send_buffer {
            // SAFETY: setsockopt on an open socket with a valid int.
            let rc = unsafe {
                libc::setsockopt(
                    server.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_SNDBUF,
                    (&size as *const i32).cast(),
                    std::mem::size_of::<i32>() as libc::socklen_t,
                )
            };
            assert_eq!(rc, 0);
        }
        let inner: pingora::protocols::Stream =
            Box::new(pingora::protocols::l4::stream::Stream::from(server));
        let permit = ConnectionBook::new(10, 10).admit(None).unwrap();
        (GuardedStream::new(inner, None, permit), client)
    }

    /// Two responses on one connection: a header held by the gather, a
    /// sealed body (or a slice of one), then a small second response.
    async fn two_responses(
        send_buffer: Option<i32>,
        slow_reader: bool,
        range: std::ops::Range<usize>,
    ) {
        let data = body(700 * 1024 + 13);
        let sealed = sealed::seal(&[Bytes::from(data.clone())], data.len()).expect("sealed");
        let part = sealed.slice(range.clone());
        let (mut server, mut client) = pair(send_buffer).await;
        let before = metrics::SENDFILE_BYTES.get();

        let header = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n".to_vec();
        let expected: Vec<u8> = [&header[..], &data[range], &header[..], b"x"].concat();
        let writer = tokio::spawn(async move {
            server.write_all(&header).await.unwrap();
            server.write_all(&part).await.unwrap();
            server.write_all(&header).await.unwrap();
            server.write_all(b"x").await.unwrap();
            server.flush().await.unwrap();
            server
        });
        let mut got = Vec::new();
        let mut buf = vec![0u8; 8192];
        while got.len() < expected.len() {
            let n = tokio::time::timeout(Duration::from_secs(10), client.read(&mut buf))
                .await
                .expect("bytes within 10 s")
                .unwrap();
            assert!(n > 0, "closed early");
            got.extend_from_slice(&buf[..n]);
            if slow_reader {
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
        }
        let _server = writer.await.unwrap();
        assert_eq!(got.len(), expected.len());
        assert!(
            got == expected,
            "the bytes on the wire are the bytes written, in order"
        );
        assert!(
            metrics::SENDFILE_BYTES.get() > before,
            "the sealed bytes went out with sendfile"
        );
    }

    #[tokio::test]
    async fn a_sealed_body_goes_out_whole_and_in_order() {
        two_responses(None, false, 0..700 * 1024 + 13).await;
    }

    #[tokio::test]
    async fn a_full_socket_and_a_slow_reader_lose_nothing() {
        two_responses(Some(4096), true, 0..700 * 1024 + 13).await;
    }

    #[tokio::test]
    async fn a_range_is_sent_from_its_offset() {
        two_responses(Some(8192), false, 123_457..600_001).await;
    }

    #[tokio::test]
    async fn ordinary_memory_is_copied() {
        let (mut server, mut client) = pair(None).await;
        let data = body(200 * 1024);
        let expected = data.clone();
        let writer = tokio::spawn(async move {
            server.write_all(&data).await.unwrap();
            server.flush().await.unwrap();
            server
        });
        let mut got = vec![0u8; expected.len()];
        client.read_exact(&mut got).await.unwrap();
        let _server = writer.await.unwrap();
        assert!(got == expected);
    }
}
