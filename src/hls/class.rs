//! What kind of HLS object a request is for: the class the cache policy picks TTLs by and
//! metrics are labelled with. First from the URL alone (before any origin fetch), then,
//! for a playlist, refined by its body. The TTLs themselves belong to the cache policy.

/// The kind of object a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjectClass {
    /// A media segment (RFC 8216 §3): `.ts`, `.m4s`, `.aac`, `.vtt`, ...
    Segment,
    /// An LL-HLS partial segment (rfc8216bis §4.4.4.9). Never returned by
    /// [`from_request`](Self::from_request): a part's URL looks like any segment's.
    PartialSegment,
    /// A media initialization section (§4.3.2.5 EXT-X-MAP): an `.mp4` named `*init*`.
    InitSection,
    /// A multivariant playlist (§4.3.4).
    MultivariantPlaylist,
    /// A media playlist that may still change (no EXT-X-ENDLIST, not PLAYLIST-TYPE:VOD).
    LivePlaylist,
    /// A media playlist that will not change (EXT-X-ENDLIST or PLAYLIST-TYPE:VOD).
    VodPlaylist,
    /// An LL-HLS blocking playlist reload (rfc8216bis §6.2.5.2: `_HLS_msn` in the query).
    BlockingPlaylist,
    /// A `.m3u8` whose body has not been seen yet, or could not be parsed.
    Playlist,
    /// A key file (§4.3.2.4 EXT-X-KEY URI): `.key`.
    Key,
    /// Anything else.
    Other,
}

/// Extensions of media segments (§3.2 to §3.5: MPEG-2 TS, fMP4, packed audio, WebVTT).
const SEGMENT_EXTENSIONS: &[&str] = &["ts", "m4s", "m4a", "m4v", "aac", "mp3", "vtt", "webvtt"];

impl ObjectClass {
    /// Classifies by the file name of `path` (extension compared case-insensitively) and,
    /// for a playlist, by `query`: a `_HLS_msn` delivery directive makes it a
    /// [`BlockingPlaylist`](Self::BlockingPlaylist). `.mp4` is an init section when its
    /// file name contains `init`, a segment otherwise.
    pub fn from_request(path: &str, query: Option<&str>) -> ObjectClass {
        let name = after_last(path, b'/').unwrap_or(path);
        let Some(extension) = after_last(name, b'.') else {
            return ObjectClass::Other;
        };
        let is = |candidate: &str| extension.eq_ignore_ascii_case(candidate);
        if SEGMENT_EXTENSIONS.iter().any(|e| is(e)) {
            ObjectClass::Segment
        } else if is("mp4") && contains_ignore_case(name, "init") {
            ObjectClass::InitSection
        } else if is("mp4") {
            ObjectClass::Segment
        } else if is("m3u8") || is("m3u") {
            if query.is_some_and(has_blocking_directive) {
                ObjectClass::BlockingPlaylist
            } else {
                ObjectClass::Playlist
            }
        } else if is("key") {
            ObjectClass::Key
        } else {
            ObjectClass::Other
        }
    }

    /// Refines [`Playlist`](Self::Playlist) by its body: multivariant, live or VOD. A body
    /// that does not parse stays `Playlist`; every other class (including
    /// `BlockingPlaylist`) is returned unchanged.
    pub fn refine_with_playlist(self, body: &[u8]) -> ObjectClass {
        if self != ObjectClass::Playlist {
            return self;
        }
        super::progress::PlaylistSummary::of(self, body).class
    }

    /// Segments, parts and init sections: the objects that never change once produced.
    pub fn is_media(self) -> bool {
        matches!(
            self,
            ObjectClass::Segment | ObjectClass::PartialSegment | ObjectClass::InitSection
        )
    }

    /// Any playlist, classified by its body or not.
    pub fn is_playlist(self) -> bool {
        matches!(
            self,
            ObjectClass::MultivariantPlaylist
                | ObjectClass::LivePlaylist
                | ObjectClass::VodPlaylist
                | ObjectClass::BlockingPlaylist
                | ObjectClass::Playlist
        )
    }

    /// A short name for metric labels and logs; one of a fixed set.
    pub fn label(self) -> &'static str {
        match self {
            ObjectClass::Segment => "segment",
            ObjectClass::PartialSegment => "part",
            ObjectClass::InitSection => "init",
            ObjectClass::MultivariantPlaylist => "master",
            ObjectClass::LivePlaylist => "live_playlist",
            ObjectClass::VodPlaylist => "vod_playlist",
            ObjectClass::BlockingPlaylist => "blocking_playlist",
            ObjectClass::Playlist => "playlist",
            ObjectClass::Key => "key",
            ObjectClass::Other => "other",
        }
    }
}

/// What follows the last `byte` (ASCII) in `text`.
fn after_last(text: &str, byte: u8) -> Option<&str> {
    let at = text.bytes().rposition(|b| b == byte)?;
    Some(&text[at + 1..])
}

/// rfc8216bis §6.2.5.2: `_HLS_msn=<M>` asks the server to hold the request until segment M
/// exists. Directive names are case-sensitive.
fn has_blocking_directive(query: &str) -> bool {
    query
        .split('&')
        .any(|pair| pair == "_HLS_msn" || pair.starts_with("_HLS_msn="))
}

fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    haystack
        .as_bytes()
        .windows(needle.len())
        .any(|window| window.eq_ignore_ascii_case(needle.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::ObjectClass::{self, *};

    #[test]
    fn classifies_by_path_and_query() {
        let table: &[(&str, Option<&str>, ObjectClass)] = &[
            ("/hls/live/seg_2681.ts", None, Segment),
            ("/hls/live/SEG.TS", None, Segment),
            ("/v/720p/chunk-12.m4s", Some("hdnts=x"), Segment),
            ("/a/audio.m4a", None, Segment),
            ("/a/video.m4v", None, Segment),
            ("/a/audio_1.aac", None, Segment),
            ("/a/audio_1.mp3", None, Segment),
            ("/subs/en/1.vtt", None, Segment),
            ("/subs/en/1.webvtt", None, Segment),
            ("/v/720p/init.mp4", None, InitSection),
            ("/v/720p/video_INIT_0.MP4", None, InitSection),
            ("/v/720p/segment_5.mp4", None, Segment),
            ("/hls/master.m3u8", None, Playlist),
            ("/hls/index.M3U8", Some("hdnts=st=1~exp=2"), Playlist),
            ("/hls/old.m3u", None, Playlist),
            (
                "/hls/low.m3u8",
                Some("_HLS_msn=273&_HLS_part=2"),
                BlockingPlaylist,
            ),
            (
                "/hls/low.m3u8",
                Some("hdnts=a&_HLS_msn=273"),
                BlockingPlaylist,
            ),
            ("/hls/low.m3u8", Some("_HLS_skip=YES"), Playlist),
            ("/hls/low.m3u8", Some("x_HLS_msn=1"), Playlist),
            ("/hls/seg.ts", Some("_HLS_msn=1"), Segment),
            ("/keys/k1.key", None, Key),
            ("/hls/", None, Other),
            ("/hls/README", None, Other),
            ("/hls.m3u8/file.json", None, Other),
            ("", None, Other),
        ];
        for &(path, query, want) in table {
            assert_eq!(
                ObjectClass::from_request(path, query),
                want,
                "{path} {query:?}"
            );
        }
    }

    #[test]
    fn refines_playlists_by_body() {
        let live = b"#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:6,\na.ts\n";
        let ended = b"#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:6,\na.ts\n#EXT-X-ENDLIST\n";
        let vod = b"#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXT-X-PLAYLIST-TYPE:VOD\n";
        let master = b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nlow.m3u8\n";
        assert_eq!(Playlist.refine_with_playlist(live), LivePlaylist);
        assert_eq!(Playlist.refine_with_playlist(ended), VodPlaylist);
        assert_eq!(Playlist.refine_with_playlist(vod), VodPlaylist);
        assert_eq!(Playlist.refine_with_playlist(master), MultivariantPlaylist);
        assert_eq!(Playlist.refine_with_playlist(b"<html>"), Playlist);
        assert_eq!(
            BlockingPlaylist.refine_with_playlist(ended),
            BlockingPlaylist
        );
        assert_eq!(Segment.refine_with_playlist(live), Segment);
    }

    #[test]
    fn predicates_and_labels() {
        let all = [
            Segment,
            PartialSegment,
            InitSection,
            MultivariantPlaylist,
            LivePlaylist,
            VodPlaylist,
            BlockingPlaylist,
            Playlist,
            Key,
            Other,
        ];
        let media: Vec<_> = all.iter().filter(|c| c.is_media()).collect();
        assert_eq!(media, [&Segment, &PartialSegment, &InitSection]);
        assert_eq!(all.iter().filter(|c| c.is_playlist()).count(), 5);
        let mut labels: Vec<_> = all.iter().map(|c| c.label()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), all.len());
    }
}
