//! Feeds the edge's `StreamBook` with viewers (design section 6): each successful
//! segment or playlist response counts its viewer (session id, else client address).
//! Playlist progress is recorded on the playlist's own path (`playlist_response`).

use std::time::Instant;

use pingora::proxy::Session;

use super::context::RequestCtx;
use crate::streams::{stream_of, StreamBook};

/// Counts the viewer of a successful media or playlist response.
pub fn finish(book: &StreamBook, session: &Session, ctx: &RequestCtx, status: u16) {
    if !(200..300).contains(&status) || !(ctx.class.is_media() || ctx.class.is_playlist()) {
        return;
    }
    let Some(stream) = stream(ctx) else {
        return;
    };
    let now = Instant::now();
    match ctx.session_id() {
        Some(id) => book.saw_viewer(stream, id, now),
        None => {
            let address = session
                .client_addr()
                .and_then(|a| a.as_inet())
                .map(|a| a.ip());
            book.saw_viewer(stream, address, now)
        }
    }
}

fn stream(ctx: &RequestCtx) -> Option<&str> {
    let route = ctx.route.as_ref()?;
    stream_of(&route.name, &route.prefix, &ctx.shard_key)
}
