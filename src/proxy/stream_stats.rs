//! Feeds the edge's `StreamBook` (design section 6): each successful segment
//! or playlist response counts its viewer (session id, else client address),
//! and each live media playlist sent records its media sequence, from which
//! the admin listener derives viewers, playlist age and segment lag.

use std::time::{Duration, Instant};

use bytes::Bytes;
use pingora::proxy::Session;

use super::context::{CacheResult, RequestCtx};
use crate::hls::playlist::Playlist;
use crate::hls::ObjectClass;
use crate::streams::{stream_of, StreamBook};

/// Playlists larger than this are not looked at.
const MAX_PLAYLIST: usize = 1 << 20;

/// Decides, once the response status is known, whether the body is watched.
pub fn start(ctx: &mut RequestCtx, status: u16) {
    // hits of VOD and multivariant playlists are known by their stored class
    // and never parsed; live ones and unclassified fetches are
    let may_be_live = matches!(ctx.class, ObjectClass::Playlist | ObjectClass::LivePlaylist);
    if status == 200 && may_be_live && stream(ctx).is_some() {
        ctx.stream_body = Some(Vec::new());
    }
}

/// Collects a playlist body as it goes to the player (nothing held back); at
/// its end, records a live media playlist's sequence.
pub fn body(book: &StreamBook, ctx: &mut RequestCtx, chunk: Option<&Bytes>, end: bool) {
    let Some(collected) = ctx.stream_body.as_mut() else {
        return;
    };
    if let Some(chunk) = chunk {
        if collected.len() + chunk.len() > MAX_PLAYLIST {
            ctx.stream_body = None;
            return;
        }
        collected.extend_from_slice(chunk);
    }
    if !end {
        return;
    }
    let collected = ctx.stream_body.take().unwrap_or_default();
    let Ok(Playlist::Media(media)) = Playlist::parse(&collected) else {
        return;
    };
    let (Some(last), true) = (media.last_media_sequence(), media.is_live()) else {
        return;
    };
    let Some(stream) = stream(ctx) else {
        return;
    };
    book.saw_playlist(
        stream,
        &ctx.shard_key,
        last,
        Duration::from_secs(media.target_duration.max(1)),
        ctx.cache == CacheResult::Miss,
        Instant::now(),
    );
}

/// Counts the viewer of a successful media or playlist response.
pub fn finish(book: &StreamBook, session: &Session, ctx: &RequestCtx, status: u16) {
    if !(200..300).contains(&status) || !(ctx.class.is_media() || ctx.class.is_playlist()) {
        return;
    }
    let Some(stream) = stream(ctx) else {
        return;
    };
    let address;
    let viewer = match ctx.session_id() {
        Some(id) => id,
        None => {
            address = session
                .client_addr()
                .and_then(|a| a.as_inet())
                .map(|a| a.ip().to_string())
                .unwrap_or_default();
            address.as_str()
        }
    };
    book.saw_viewer(stream, viewer, Instant::now());
}

fn stream(ctx: &RequestCtx) -> Option<&str> {
    let route = ctx.route.as_ref()?;
    stream_of(&route.prefix, &ctx.shard_key)
}
