//! HLS bodies for the counting origin (RFC 8216) and the small parsers tests
//! use to assert on what the edge served. Deliberately independent of the
//! crate's own playlist code, so a bug there cannot hide itself in a test.

use std::sync::atomic::{AtomicU64, Ordering};

/// `Content-Type` of playlists (RFC 8216 §4).
pub const PLAYLIST_TYPE: &str = "application/vnd.apple.mpegurl";
/// `Content-Type` of MPEG-TS segments.
pub const SEGMENT_TYPE: &str = "video/mp2t";

/// A live sliding-window media playlist rendered at request time: segments
/// `seg_{N}.ts` .. `seg_{N+window-1}.ts`, no `#EXT-X-ENDLIST`.
#[derive(Debug)]
pub struct LivePlaylist {
    /// `#EXT-X-TARGETDURATION:<s>`, also each `#EXTINF`.
    pub target_duration: u64,
    /// Segments listed.
    pub window: u64,
    /// `#EXT-X-MEDIA-SEQUENCE:<N>`: the sequence number of the first segment listed.
    pub media_sequence: AtomicU64,
}

impl LivePlaylist {
    pub fn new(target_duration: u64, window: u64, first_sequence: u64) -> LivePlaylist {
        LivePlaylist {
            target_duration,
            window,
            media_sequence: AtomicU64::new(first_sequence),
        }
    }

    pub fn sequence(&self) -> u64 {
        self.media_sequence.load(Ordering::SeqCst)
    }

    /// Publishes one more segment (the oldest leaves the window); returns the
    /// new media sequence.
    pub fn advance(&self) -> u64 {
        self.media_sequence.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// URI of the newest segment listed now.
    pub fn newest_segment(&self) -> String {
        segment_uri(self.sequence() + self.window.saturating_sub(1))
    }

    pub fn render(&self) -> String {
        let first = self.sequence();
        let mut text = format!(
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:{}\n#EXT-X-MEDIA-SEQUENCE:{first}\n",
            self.target_duration
        );
        for seq in first..first + self.window {
            text.push_str(&format!(
                "#EXTINF:{}.000,\n{}\n",
                self.target_duration,
                segment_uri(seq)
            ));
        }
        text
    }
}

/// `seg_{seq}.ts`, the segment naming of every playlist helper here.
pub fn segment_uri(seq: u64) -> String {
    format!("seg_{seq}.ts")
}

/// A VOD media playlist of `segments` segments `seg_0.ts`.. with
/// `#EXT-X-PLAYLIST-TYPE:VOD` and `#EXT-X-ENDLIST`.
pub fn vod_playlist(target_duration: u64, segments: u64) -> String {
    let mut text = format!(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:{target_duration}\n\
         #EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n"
    );
    for seq in 0..segments {
        text.push_str(&format!(
            "#EXTINF:{target_duration}.000,\n{}\n",
            segment_uri(seq)
        ));
    }
    text.push_str("#EXT-X-ENDLIST\n");
    text
}

/// A multivariant playlist: one `#EXT-X-STREAM-INF:BANDWIDTH=<bps>` per
/// `(uri, bandwidth)`.
pub fn multivariant_playlist(variants: &[(&str, u64)]) -> String {
    let mut text = String::from("#EXTM3U\n#EXT-X-VERSION:3\n");
    for (uri, bandwidth) in variants {
        text.push_str(&format!("#EXT-X-STREAM-INF:BANDWIDTH={bandwidth}\n{uri}\n"));
    }
    text
}

/// The value of `#EXT-X-MEDIA-SEQUENCE` in a playlist body.
pub fn media_sequence_in(body: &str) -> Option<u64> {
    body.lines()
        .find_map(|line| line.trim().strip_prefix("#EXT-X-MEDIA-SEQUENCE:"))
        .and_then(|n| n.trim().parse().ok())
}

/// The URI lines of a playlist (every non-empty line not starting with `#`).
pub fn uris_in(body: &str) -> Vec<String> {
    body.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// `len` deterministic bytes that differ with `seed`, so a test can tell two
/// segments apart and check a prefix of a cut body.
pub fn pattern_body(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| b'a' + ((i + seed as usize) % 26) as u8)
        .collect()
}
