//! The one playlist model of hls-edge (RFC 8216 §4, rfc8216bis for LL-HLS): the types, with
//! each field tied to the tag it comes from, and the entry points to read (`parse.rs`) and
//! write (`write.rs`) them. The cache policy classifies with it, the packager writes with it.
//! The Low-Latency HLS tags (parts, server control, preload hints, rendition reports, skip)
//! have their own file, `low_latency.rs`.
//!
//! The model holds what the edge and the packager act on, not every tag: keys, renditions
//! (EXT-X-MEDIA), date ranges and later `EXT-X-MAP`s are skipped when parsing and absent when
//! writing. To change the URIs of an origin's playlist without losing anything, use
//! [`rewrite_uris`](super::rewrite::rewrite_uris), not parse + write.
//!
//! How far a live playlist has got, for an edge comparing two copies of one stream:
//! [`MediaPlaylist::last_media_sequence`] (the last complete segment, skipped ones counted),
//! [`MediaPlaylist::last_part`] (the last partial segment, possibly of the segment still
//! being produced), [`MediaPlaylist::can_block_reload`], `part_target` and
//! [`MediaPlaylist::skipped_segments`].

mod low_latency;
mod parse;
mod write;

pub use low_latency::{
    HintType, OpenSegment, PartPosition, PartialSegment, PreloadHint, RenditionReport,
    ServerControl, Skip,
};

#[cfg(test)]
mod tests;

/// A parsed playlist: RFC 8216 §4.1 says a playlist is either one or the other. A media
/// playlist is parsed once per response and moved, not copied, so it is not boxed.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
pub enum Playlist {
    /// Lists variant streams (has `#EXT-X-STREAM-INF` or `#EXT-X-I-FRAME-STREAM-INF`).
    Multivariant(MultivariantPlaylist),
    /// Lists media segments.
    Media(MediaPlaylist),
}

impl Playlist {
    /// Parses a playlist body. It must start with `#EXTM3U` (after an optional UTF-8 BOM and
    /// blank lines); CRLF, blank lines, comments and unknown tags are accepted (§4.1:
    /// clients "MUST ignore any unrecognized tags").
    pub fn parse(body: &[u8]) -> Result<Playlist, PlaylistError> {
        parse::playlist(body)
    }
}

/// A media playlist (RFC 8216 §4.3.3).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MediaPlaylist {
    /// `#EXT-X-VERSION:<n>`
    pub version: Option<u8>,
    /// `#EXT-X-TARGETDURATION:<s>` (required). A decimal value is rounded up when parsed.
    pub target_duration: u64,
    /// `#EXT-X-MEDIA-SEQUENCE:<number>`, 0 when absent (§4.3.3.2).
    pub media_sequence: u64,
    /// `#EXT-X-DISCONTINUITY-SEQUENCE:<number>`, 0 when absent (§4.3.3.3).
    pub discontinuity_sequence: u64,
    /// `#EXT-X-PLAYLIST-TYPE:<EVENT|VOD>`
    pub playlist_type: Option<PlaylistType>,
    /// `#EXT-X-INDEPENDENT-SEGMENTS`
    pub independent_segments: bool,
    /// `#EXT-X-MAP:URI="<uri>"`: the first one only; a later map (after a discontinuity)
    /// is not kept.
    pub map_uri: Option<String>,
    /// `#EXT-X-SERVER-CONTROL` (rfc8216bis §4.4.3.8)
    pub server_control: Option<ServerControl>,
    /// `#EXT-X-PART-INF:PART-TARGET=<s>` (rfc8216bis §4.4.3.7)
    pub part_target: Option<f64>,
    /// `#EXT-X-SKIP` (rfc8216bis §4.4.5.2): this is a delta update, and the first
    /// `skipped_segments` segments of the full playlist are not listed. Only before the
    /// first segment.
    pub skip: Option<Skip>,
    /// Each `#EXTINF` + URI line, in playlist order (after the skipped ones, if any).
    pub segments: Vec<MediaSegment>,
    /// The parts listed after the last URI line: the segment still being produced.
    pub open_segment: Option<OpenSegment>,
    /// `#EXT-X-PRELOAD-HINT` tags (rfc8216bis §4.4.5.3)
    pub preload_hints: Vec<PreloadHint>,
    /// `#EXT-X-RENDITION-REPORT` tags (rfc8216bis §4.4.5.4)
    pub rendition_reports: Vec<RenditionReport>,
    /// `#EXT-X-ENDLIST`
    pub end_list: bool,
}

impl MediaPlaylist {
    /// Whether more segments may still be appended: no `#EXT-X-ENDLIST` and not
    /// `#EXT-X-PLAYLIST-TYPE:VOD` (§4.3.3.5, §4.3.3.4). An EVENT playlist is live until ended.
    pub fn is_live(&self) -> bool {
        !self.end_list && self.playlist_type != Some(PlaylistType::Vod)
    }

    /// The media sequence number of the last complete segment (§4.3.3.2: the first segment
    /// has `media_sequence`, each next one the previous plus one; segments skipped by a delta
    /// update count). `None` when there is none; parts of the segment still being produced
    /// do not count (see [`last_part`](Self::last_part)).
    pub fn last_media_sequence(&self) -> Option<u64> {
        let listed = u64::try_from(self.segments.len()).ok()?;
        (self.skipped_segments().saturating_add(listed))
            .checked_sub(1)
            .map(|i| self.media_sequence.saturating_add(i))
    }

    /// The media sequence number of `segments[0]`: `media_sequence`, plus the segments a
    /// delta update skipped.
    pub fn first_listed_media_sequence(&self) -> u64 {
        self.media_sequence.saturating_add(self.skipped_segments())
    }

    /// The last partial segment listed: the last part of the segment being produced if it
    /// has any, else the last part of the last complete segment (rfc8216bis §4.4.5.4, the
    /// `LAST-MSN`/`LAST-PART` a rendition report gives). `None` without parts there.
    pub fn last_part(&self) -> Option<PartPosition> {
        let next = self.first_listed_media_sequence() + self.segments.len() as u64;
        let (msn, parts) = match &self.open_segment {
            Some(open) if !open.parts.is_empty() => (next, &open.parts),
            _ => (next.checked_sub(1)?, &self.segments.last()?.parts),
        };
        let part = u64::try_from(parts.len()).ok()?.checked_sub(1)?;
        Some(PartPosition { msn, part })
    }

    /// `CAN-BLOCK-RELOAD=YES`: the server holds `_HLS_msn` requests (rfc8216bis §6.2.5.2).
    pub fn can_block_reload(&self) -> bool {
        self.server_control
            .as_ref()
            .is_some_and(|c| c.can_block_reload)
    }

    /// Segments a delta update left out (`#EXT-X-SKIP:SKIPPED-SEGMENTS`), 0 in a full playlist.
    pub fn skipped_segments(&self) -> u64 {
        self.skip.as_ref().map_or(0, |s| s.skipped_segments)
    }

    /// The playlist as text, LF line endings; see `write.rs` for the exact layout.
    pub fn write(&self) -> String {
        self.to_string()
    }
}

/// One media segment of a media playlist (RFC 8216 §4.3.2).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MediaSegment {
    /// The URI line, as written (relative URIs are not resolved).
    pub uri: String,
    /// `#EXTINF:<duration>,` in seconds. Written with 3 decimals.
    pub duration: f64,
    /// `#EXTINF:<duration>,<title>`; an empty title reads as `None`.
    pub title: Option<String>,
    /// `#EXT-X-DISCONTINUITY` before this segment.
    pub discontinuity: bool,
    /// `#EXT-X-PROGRAM-DATE-TIME:<date-time>`: the RFC 3339 text as given, not checked.
    pub program_date_time: Option<String>,
    /// `#EXT-X-BYTERANGE:<n>[@<o>]`: the text as given.
    pub byte_range: Option<String>,
    /// The `#EXT-X-PART` tags before its `#EXTINF` (rfc8216bis §4.4.4.9): its partial
    /// segments, part index 0 first. Live playlists list them for the last few segments only.
    pub parts: Vec<PartialSegment>,
}

/// `#EXT-X-PLAYLIST-TYPE` (RFC 8216 §4.3.3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PlaylistType {
    /// `EVENT`: segments may be appended, never removed.
    Event,
    /// `VOD`: the playlist never changes.
    Vod,
}

impl PlaylistType {
    /// The tag value: `EVENT` or `VOD`.
    pub fn as_str(self) -> &'static str {
        match self {
            PlaylistType::Event => "EVENT",
            PlaylistType::Vod => "VOD",
        }
    }
}

/// A multivariant (master) playlist (RFC 8216 §4.3.4).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct MultivariantPlaylist {
    /// `#EXT-X-VERSION:<n>`
    pub version: Option<u8>,
    /// `#EXT-X-INDEPENDENT-SEGMENTS`
    pub independent_segments: bool,
    /// Each `#EXT-X-STREAM-INF` + URI line, in playlist order.
    pub variants: Vec<VariantStream>,
}

impl MultivariantPlaylist {
    /// The playlist as text, LF line endings; see `write.rs` for the exact layout.
    pub fn write(&self) -> String {
        self.to_string()
    }
}

/// One `#EXT-X-STREAM-INF` and the URI line after it (RFC 8216 §4.3.4.2).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct VariantStream {
    /// The URI line after the tag.
    pub uri: String,
    /// `BANDWIDTH=<bits/s>` (required)
    pub bandwidth: u64,
    /// `AVERAGE-BANDWIDTH=<bits/s>`
    pub average_bandwidth: Option<u64>,
    /// `CODECS="<list>"`
    pub codecs: Option<String>,
    /// `RESOLUTION=<width>x<height>`
    pub resolution: Option<(u32, u32)>,
    /// `FRAME-RATE=<fps>`. Written with 3 decimals.
    pub frame_rate: Option<f64>,
}

/// Why a body is not a playlist this model can read. Line numbers count from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaylistError {
    #[error("playlist is not utf-8 (invalid byte at offset {offset})")]
    NotUtf8 { offset: usize },
    #[error("playlist does not start with #EXTM3U")]
    MissingHeader,
    #[error("line {line}: invalid #{tag} value `{value}`")]
    InvalidTag {
        line: usize,
        tag: String,
        value: String,
    },
    #[error("line {line}: invalid {attribute} `{value}` in #{tag}")]
    InvalidAttribute {
        line: usize,
        tag: String,
        attribute: String,
        value: String,
    },
    #[error("line {line}: #{tag} lacks {attribute}")]
    MissingAttribute {
        line: usize,
        tag: String,
        attribute: String,
    },
    #[error("line {line}: uri `{uri}` has no #{tag} before it")]
    UriWithoutTag {
        line: usize,
        uri: String,
        tag: String,
    },
    #[error("line {line}: media tag #{tag} in a multivariant playlist")]
    MediaTagInMultivariant { line: usize, tag: String },
    #[error("media playlist lacks #EXT-X-TARGETDURATION")]
    MissingTargetDuration,
    #[error("line {line}: #{tag} after a media segment")]
    MisplacedTag { line: usize, tag: String },
}
