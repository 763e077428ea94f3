//! Live playlists across origins (design section 5), for groups of several
//! origins:
//!
//! - every live media playlist fetched from an origin tells the group how far
//!   that origin's copy of the stream has got (`observe_playlist`), which is
//!   how a frozen origin becomes `stale` and playlist requests move to the
//!   freshest one;
//! - a player never sees a playlist go backwards because of a failover: a
//!   playlist ending before the highest one this edge served within the
//!   window is replaced by that one (kept for the purpose).
//!
//! The body is held until complete (playlists are small) and sent chunked,
//! since a replacement has another length.

use std::time::{Duration, Instant};

use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::Result;

use super::context::{CacheResult, Hop, RequestCtx};
use crate::hls::playlist::Playlist;
use crate::metrics;

/// A playlist body held until its end.
#[derive(Debug, Default)]
pub struct HeldPlaylist {
    body: Vec<u8>,
}

/// Holds the body of a playlist of a guarded stream (see the module docs).
pub fn start(ctx: &mut RequestCtx, resp: &mut ResponseHeader, head: bool) -> Result<()> {
    if ctx.stream_key.is_none() || head || resp.status.as_u16() != 200 {
        return Ok(());
    }
    if !matches!(
        ctx.class,
        crate::hls::ObjectClass::Playlist | crate::hls::ObjectClass::LivePlaylist
    ) {
        return Ok(());
    }
    resp.remove_header(&http::header::CONTENT_LENGTH);
    resp.insert_header(http::header::TRANSFER_ENCODING, "chunked")?;
    ctx.held_playlist = Some(HeldPlaylist::default());
    Ok(())
}

/// Collects the body; at its end, records it and sends it (or the newer
/// playlist already served).
pub fn body(ctx: &mut RequestCtx, body: &mut Option<Bytes>, end_of_stream: bool) {
    let Some(held) = ctx.held_playlist.as_mut() else {
        return;
    };
    if let Some(chunk) = body.take() {
        held.body.extend_from_slice(&chunk);
    }
    if !end_of_stream {
        return;
    }
    let fetched = Bytes::from(std::mem::take(&mut held.body));
    ctx.held_playlist = None;
    *body = Some(settle(ctx, fetched));
}

/// What to send for a complete live playlist body.
fn settle(ctx: &RequestCtx, fetched: Bytes) -> Bytes {
    let (Some(route), Some(key)) = (&ctx.route, &ctx.stream_key) else {
        return fetched;
    };
    let Ok(Playlist::Media(media)) = Playlist::parse(&fetched) else {
        return fetched;
    };
    let Some(last) = media.last_media_sequence().filter(|_| media.is_live()) else {
        return fetched;
    };
    let group = &route.group;
    let target = Duration::from_secs(media.target_duration.max(1));
    let now = Instant::now();
    if let (CacheResult::Miss, Some(Hop::Origin(i))) = (ctx.cache, ctx.hop) {
        group.observe_playlist(i, key, last, target, now);
    }
    if let Some(highest) = group.highest_served(key, now) {
        if last < highest {
            if let Some(newer) = group.served_body(key, now) {
                metrics::PLAYLIST_REGRESSIONS
                    .with_label_values(&[group.name.as_str()])
                    .inc();
                tracing::info!(
                    group = %group.name,
                    stream = %key,
                    fetched = last,
                    served = highest,
                    origin = ctx.origin.as_ref().map_or("", |o| o.name.as_str()),
                    "playlist behind one already served: sending the newer one"
                );
                return newer;
            }
        }
    }
    group.served_playlist(key, last, target, now);
    group.keep_served_body(key, last, fetched.clone());
    fetched
}
