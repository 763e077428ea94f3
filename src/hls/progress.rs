//! How far a playlist has got, read once from its body: the summary every part of the edge
//! that follows live playlists shares (the cache's freshness, origin staleness, the
//! no-regression guard, stream statistics). It is computed when a playlist is parsed, kept
//! with a stored copy, and compared instead of parsing the body again.

use std::time::Duration;

use super::class::ObjectClass;
use super::playlist::{MediaPlaylist, Playlist};

/// The position of the newest media a media playlist lists (RFC 8216 §4.3.3.2 media
/// sequence numbers; rfc8216bis §4.4.4.9 partial segments). Positions compare in the order
/// the stream advances: a complete segment `n` is past every part of segment `n`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Position {
    /// The media sequence number of the first segment not yet complete.
    next_msn: u64,
    /// Parts of that segment already listed (LL-HLS), 0 otherwise.
    parts: u32,
}

impl Position {
    /// After the complete segment `msn`, with no part of the next one yet.
    pub fn after_segment(msn: u64) -> Position {
        Position {
            next_msn: msn.saturating_add(1),
            parts: 0,
        }
    }

    /// `parts` parts into segment `msn`, which is not complete yet.
    pub fn within_segment(msn: u64, parts: u32) -> Position {
        Position {
            next_msn: msn,
            parts,
        }
    }

    /// The media sequence number of the last complete segment (`None` before the first).
    pub fn last_segment(self) -> Option<u64> {
        self.next_msn.checked_sub(1)
    }

    /// Parts listed beyond the last complete segment.
    pub fn parts(self) -> u32 {
        self.parts
    }

    /// Complete segments between `older` and `self` (0 when `older` is not older).
    pub fn segments_since(self, older: Position) -> u64 {
        self.next_msn.saturating_sub(older.next_msn)
    }
}

impl std::fmt::Display for Position {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.last_segment(), self.parts) {
            (Some(msn), 0) => write!(f, "{msn}"),
            (_, parts) => write!(f, "{}.{parts}", self.next_msn),
        }
    }
}

/// What the edge needs to know of a playlist body, from one parse.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlaylistSummary {
    /// Multivariant, live, VOD, or `Playlist` when the body could not be read.
    pub class: ObjectClass,
    /// Media playlists: where the newest listed media is (`None` without segments).
    pub position: Option<Position>,
    /// Media playlists: `#EXT-X-MEDIA-SEQUENCE`, the oldest segment listed.
    pub first_msn: u64,
    /// Media playlists: `#EXT-X-TARGETDURATION`, at least one second.
    pub target_duration: Duration,
    /// Media playlists: more segments may still be appended (no ENDLIST, not VOD).
    pub live: bool,
}

impl PlaylistSummary {
    /// Parses `body` once; `class` is the class the request gave it (a blocking playlist
    /// request stays one, a plain `.m3u8` is refined by the body).
    pub fn of(class: ObjectClass, body: &[u8]) -> PlaylistSummary {
        PlaylistSummary::from_parsed(class, Playlist::parse(body).ok().as_ref())
    }

    /// The summary of an already parsed playlist (`None`: it did not parse).
    pub fn from_parsed(class: ObjectClass, playlist: Option<&Playlist>) -> PlaylistSummary {
        let refined = |c| {
            if class == ObjectClass::Playlist {
                c
            } else {
                class
            }
        };
        match playlist {
            Some(Playlist::Media(media)) => PlaylistSummary {
                class: refined(if media.is_live() {
                    ObjectClass::LivePlaylist
                } else {
                    ObjectClass::VodPlaylist
                }),
                position: position_of(media),
                first_msn: media.media_sequence,
                target_duration: Duration::from_secs(media.target_duration.max(1)),
                live: media.is_live(),
            },
            Some(Playlist::Multivariant(_)) => PlaylistSummary {
                class: refined(ObjectClass::MultivariantPlaylist),
                ..PlaylistSummary::unread(class)
            },
            None => PlaylistSummary::unread(class),
        }
    }

    /// A body that is not a media playlist: no position to follow.
    fn unread(class: ObjectClass) -> PlaylistSummary {
        PlaylistSummary {
            class,
            position: None,
            first_msn: 0,
            target_duration: Duration::from_secs(2),
            live: false,
        }
    }

    /// A live media playlist with at least one segment: one the edge follows.
    pub fn live_position(&self) -> Option<Position> {
        self.position.filter(|_| self.live)
    }
}

/// The last complete segment, or the parts listed of the segment being produced
/// (rfc8216bis §4.4.4.9: its `#EXT-X-PART` tags after the last URI line).
fn position_of(media: &MediaPlaylist) -> Option<Position> {
    let next_msn = media
        .last_media_sequence()
        .map_or(media.first_listed_media_sequence(), |m| m + 1);
    match media.open_segment.as_ref().map(|o| o.parts.len()) {
        Some(parts) if parts > 0 => Some(Position::within_segment(
            next_msn,
            u32::try_from(parts).unwrap_or(u32::MAX),
        )),
        _ => media.last_media_sequence().map(Position::after_segment),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIVE: &[u8] =
        b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:7\n#EXTINF:2,\na.ts\n#EXTINF:2,\nb.ts\n";

    #[test]
    fn positions_order_segments_and_parts() {
        let whole_7 = Position::after_segment(7);
        assert!(Position::within_segment(8, 3) > whole_7);
        assert!(Position::after_segment(8) > Position::within_segment(8, 3));
        assert_eq!(whole_7.last_segment(), Some(7));
        assert_eq!(Position::after_segment(9).segments_since(whole_7), 2);
        assert_eq!(whole_7.segments_since(Position::after_segment(9)), 0);
        assert_eq!(whole_7.to_string(), "7");
        assert_eq!(Position::within_segment(8, 3).to_string(), "8.3");
    }

    #[test]
    fn a_live_playlist_is_summarised_from_one_parse() {
        let s = PlaylistSummary::of(ObjectClass::Playlist, LIVE);
        assert_eq!(s.class, ObjectClass::LivePlaylist);
        assert_eq!(s.live_position(), Some(Position::after_segment(8)));
        assert_eq!(s.first_msn, 7);
        assert_eq!(s.target_duration, Duration::from_secs(2));
        let blocking = PlaylistSummary::of(ObjectClass::BlockingPlaylist, LIVE);
        assert_eq!(blocking.class, ObjectClass::BlockingPlaylist);
        let ended = [LIVE, b"#EXT-X-ENDLIST\n"].concat();
        let s = PlaylistSummary::of(ObjectClass::Playlist, &ended);
        assert_eq!(s.class, ObjectClass::VodPlaylist);
        assert_eq!(s.live_position(), None);
        let master = b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\na.m3u8\n";
        let s = PlaylistSummary::of(ObjectClass::Playlist, master);
        assert_eq!(s.class, ObjectClass::MultivariantPlaylist);
        assert_eq!(
            PlaylistSummary::of(ObjectClass::Playlist, b"<html>").class,
            ObjectClass::Playlist
        );
    }

    #[test]
    fn parts_of_the_segment_being_produced_count() {
        let ll = [
            LIVE,
            b"#EXT-X-PART:DURATION=0.5,URI=\"p9.0.ts\",INDEPENDENT=YES\n",
            b"#EXT-X-PART:DURATION=0.5,URI=\"p9.1.ts\"\n",
        ]
        .concat();
        let s = PlaylistSummary::of(ObjectClass::Playlist, &ll);
        assert_eq!(s.live_position(), Some(Position::within_segment(9, 2)));
        assert!(s.live_position() > Some(Position::after_segment(8)));
        let delta = include_bytes!("testdata/llhls_delta.m3u8");
        let s = PlaylistSummary::of(ObjectClass::Playlist, delta);
        assert_eq!(s.live_position(), Some(Position::within_segment(108, 2)));
    }
}
