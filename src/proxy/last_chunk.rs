//! The last piece of a cache hit's body on HTTP/2, held until the body ends so
//! that it leaves in the DATA frame that ends the stream.
//!
//! Pingora's hit path writes each body piece with `end_of_stream` false and
//! then, once the stored body has no more, an empty DATA frame with
//! END_STREAM. The h2 codec cannot put a frame behind a DATA frame whose
//! payload it sends without copying (over 256 bytes when the stream takes
//! vectored writes, as the edge's do), so it flushes in between: every hit
//! cost two socket writes, and over TLS two records, where one would do.
//! Held here, the piece that completes the response's `Content-Length` is
//! given back with the end of the body, and Pingora writes it as one DATA
//! frame carrying END_STREAM.
//!
//! Only hits are held: Pingora's hit loop always reads on to the end of the
//! stored body and calls the body filter once more with the end, so a held
//! piece always goes out (an error in between aborts the stream either way).
//! A piece is held only once the bytes seen reach the announced length, so a
//! hit read while its fill is still arriving gets every earlier piece at once.

use bytes::{Bytes, BytesMut};
use pingora::cache::CachePhase;
use pingora::http::ResponseHeader;
use pingora::proxy::Session;

/// See the module docs.
#[derive(Debug, Default)]
pub struct LastChunk {
    /// Bytes of the body still to come, on a hit that may hold.
    remaining: Option<usize>,
    /// The piece that completed the body, waiting for its end.
    held: Option<Bytes>,
}

impl LastChunk {
    /// After the response header is final (`response_filter`): holds on an
    /// HTTP/2 cache hit with a `Content-Length`.
    pub fn arm(&mut self, session: &Session, resp: &ResponseHeader) {
        let hit = session.cache.phase() == CachePhase::Hit;
        if !hit || !session.as_downstream().is_http2() {
            return;
        }
        self.remaining = super::fields::content_length(resp);
    }

    /// Last of the body filters: holds the piece that completes the body,
    /// gives it back with the end.
    pub fn filter(&mut self, body: &mut Option<Bytes>, end: bool) {
        if let Some(held) = self.held.take() {
            *body = Some(match body.take() {
                Some(more) if !more.is_empty() => join(&held, &more),
                _ => held,
            });
            if !end {
                // more body than announced: sent on as it comes
                self.remaining = None;
            }
            return;
        }
        let (Some(remaining), Some(piece)) = (self.remaining.as_mut(), body.as_ref()) else {
            return;
        };
        if end {
            return;
        }
        match piece.len() {
            n if n < *remaining => *remaining -= n,
            n if n == *remaining => {
                *remaining = 0;
                self.held = body.take();
            }
            _ => self.remaining = None,
        }
    }
}

fn join(a: &Bytes, b: &Bytes) -> Bytes {
    let mut joined = BytesMut::with_capacity(a.len() + b.len());
    joined.extend_from_slice(a);
    joined.extend_from_slice(b);
    joined.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn armed(length: usize) -> LastChunk {
        LastChunk {
            remaining: Some(length),
            held: None,
        }
    }

    /// Runs the filter over `pieces` as Pingora's hit loop does (each piece,
    /// then `None` with the end); returns what would be written, with its end flag.
    fn run(last: &mut LastChunk, pieces: &[&'static [u8]]) -> Vec<(Option<Bytes>, bool)> {
        let mut written = Vec::new();
        let calls = pieces
            .iter()
            .map(|p| (Some(Bytes::from_static(p)), false))
            .chain([(None, true)]);
        for (mut body, end) in calls {
            last.filter(&mut body, end);
            written.push((body, end));
        }
        written
    }

    fn sent(written: &[(Option<Bytes>, bool)]) -> Vec<u8> {
        written
            .iter()
            .flat_map(|(b, _)| b.iter().flat_map(|b| b.to_vec()))
            .collect()
    }

    #[test]
    fn a_whole_body_goes_out_with_the_end() {
        let mut last = armed(5);
        let written = run(&mut last, &[b"hello"]);
        assert_eq!(written[0].0, None, "the piece is held");
        assert_eq!(written[1], (Some(Bytes::from_static(b"hello")), true));
    }

    #[test]
    fn only_the_piece_that_completes_the_body_is_held() {
        let mut last = armed(9);
        let written = run(&mut last, &[b"abc", b"def", b"ghi"]);
        assert_eq!(written[0].0.as_deref(), Some(&b"abc"[..]));
        assert_eq!(written[1].0.as_deref(), Some(&b"def"[..]));
        assert_eq!(written[2].0, None);
        assert_eq!(written[3], (Some(Bytes::from_static(b"ghi")), true));
    }

    #[test]
    fn a_body_longer_than_announced_is_sent_whole_and_in_order() {
        let mut last = armed(3);
        let written = run(&mut last, &[b"abc", b"def", b"gh"]);
        assert_eq!(sent(&written), b"abcdefgh");
        assert!(written.last().unwrap().1);
    }

    #[test]
    fn a_piece_past_the_announced_length_is_not_held() {
        let mut last = armed(2);
        let written = run(&mut last, &[b"abc"]);
        assert_eq!(written[0].0.as_deref(), Some(&b"abc"[..]));
        assert_eq!(written[1], (None, true));
    }

    #[test]
    fn a_short_body_is_never_held() {
        let mut last = armed(10);
        let written = run(&mut last, &[b"abc", b"def"]);
        assert_eq!(sent(&written), b"abcdef");
        assert_eq!(written[2], (None, true));
    }

    #[test]
    fn unarmed_it_passes_everything_through() {
        let mut last = LastChunk::default();
        let written = run(&mut last, &[b"abc", b"def"]);
        assert_eq!(written[0].0.as_deref(), Some(&b"abc"[..]));
        assert_eq!(written[1].0.as_deref(), Some(&b"def"[..]));
        assert_eq!(written[2], (None, true));
    }

    #[test]
    fn a_piece_given_with_the_end_after_a_held_one_follows_it() {
        let mut last = armed(3);
        let mut body = Some(Bytes::from_static(b"abc"));
        last.filter(&mut body, false);
        assert_eq!(body, None);
        let mut body = Some(Bytes::from_static(b"--"));
        last.filter(&mut body, true);
        assert_eq!(body.as_deref(), Some(&b"abc--"[..]));
    }
}
