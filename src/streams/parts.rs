//! Which request paths are LL-HLS partial segments, learned from the live playlists the
//! edge passes on (rfc8216bis §4.4.4.9 `EXT-X-PART`, §4.4.5.3 `EXT-X-PRELOAD-HINT`): a
//! part's URL looks like any segment's, so only its playlist tells. The proxy labels such
//! requests `part` (metrics, access log) and counts the requests for a hinted part, which
//! the origin holds until the part exists.
//!
//! Bounded: at most `MAX_PARTS` paths, each forgotten a minute after the last playlist
//! that listed it (parts leave playlists after a few target durations).

use std::time::Duration;

use crate::hls::playlist::HintType;
use crate::hls::MediaPlaylist;

/// Part paths remembered at most.
pub const MAX_PARTS: u64 = 100_000;

/// What the playlists said of a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartKind {
    /// Listed as an `EXT-X-PART`: it exists.
    Listed,
    /// Named by an `EXT-X-PRELOAD-HINT` only: it may not exist yet.
    Hinted,
}

/// See the module docs.
pub struct PartIndex {
    known: moka::sync::Cache<String, PartKind>,
}

impl Default for PartIndex {
    fn default() -> Self {
        PartIndex {
            known: moka::sync::Cache::builder()
                .max_capacity(MAX_PARTS)
                .time_to_live(Duration::from_secs(60))
                .build(),
        }
    }
}

impl std::fmt::Debug for PartIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartIndex")
            .field("known", &self.known.entry_count())
            .finish()
    }
}

impl PartIndex {
    /// Learns the parts and hinted parts of `media`, served at `playlist_path`.
    pub fn learn(&self, playlist_path: &str, media: &MediaPlaylist) {
        let listed = media
            .segments
            .iter()
            .flat_map(|s| &s.parts)
            .chain(media.open_segment.iter().flat_map(|o| &o.parts));
        for part in listed {
            if let Some(path) = resolve(playlist_path, &part.uri) {
                self.known.insert(path, PartKind::Listed);
            }
        }
        let hinted = media
            .preload_hints
            .iter()
            .filter(|h| h.hint_type == HintType::Part);
        for hint in hinted {
            if let Some(path) = resolve(playlist_path, &hint.uri) {
                if self.known.get(&path).is_none() {
                    self.known.insert(path, PartKind::Hinted);
                }
            }
        }
    }

    /// What the playlists said of `path`, if anything.
    pub fn kind(&self, path: &str) -> Option<PartKind> {
        if self.known.entry_count() == 0 {
            // no LL-HLS playlist seen: no lookup on the media path
            self.known.run_pending_tasks();
            if self.known.entry_count() == 0 {
                return None;
            }
        }
        self.known.get(path)
    }
}

/// The request path a URI of the playlist at `playlist_path` names (RFC 3986 5.2, for the
/// forms playlists use: relative, absolute-path, or absolute URIs), without its query.
pub fn resolve(playlist_path: &str, uri: &str) -> Option<String> {
    let uri = uri.split(['?', '#']).next()?;
    let path = if let Some(rest) = uri.split_once("://").map(|(_, rest)| rest) {
        format!("/{}", rest.split_once('/')?.1)
    } else if uri.starts_with('/') {
        uri.to_string()
    } else {
        let dir = &playlist_path[..=playlist_path.rfind('/')?];
        format!("{dir}{uri}")
    };
    normalise_dots(&path)
}

/// `path` with `.` and `..` segments applied (RFC 3986 5.2.4); `None` above the root.
fn normalise_dots(path: &str) -> Option<String> {
    let mut out: Vec<&str> = Vec::new();
    for seg in path.split('/').skip(1) {
        match seg {
            "." => {}
            ".." => {
                out.pop()?;
            }
            s => out.push(s),
        }
    }
    Some(format!("/{}", out.join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hls::Playlist;

    #[test]
    fn part_uris_resolve_against_their_playlist() {
        let p = "/hls/demo/g1/360p/index.m3u8";
        assert_eq!(
            resolve(p, "part_16.0.ts").as_deref(),
            Some("/hls/demo/g1/360p/part_16.0.ts")
        );
        assert_eq!(
            resolve(p, "../180p/p.ts?x=1").as_deref(),
            Some("/hls/demo/g1/180p/p.ts")
        );
        assert_eq!(resolve(p, "/other/p.ts").as_deref(), Some("/other/p.ts"));
        assert_eq!(
            resolve(p, "https://cdn.example/hls/p.ts").as_deref(),
            Some("/hls/p.ts")
        );
        assert_eq!(resolve("/a.m3u8", "../../x.ts"), None);
    }

    #[test]
    fn listed_and_hinted_parts_are_learned() {
        let body = b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-PART-INF:PART-TARGET=0.5\n#EXT-X-MEDIA-SEQUENCE:16\n#EXT-X-PART:DURATION=0.5,URI=\"part_16.0.ts\",INDEPENDENT=YES\n#EXTINF:2.0,\nseg_16.ts\n#EXT-X-PART:DURATION=0.5,URI=\"part_17.0.ts\",INDEPENDENT=YES\n#EXT-X-PRELOAD-HINT:TYPE=PART,URI=\"part_17.1.ts\"\n";
        let Ok(Playlist::Media(media)) = Playlist::parse(body) else {
            panic!("an LL playlist");
        };
        let index = PartIndex::default();
        assert_eq!(index.kind("/hls/a/part_16.0.ts"), None);
        index.learn("/hls/a/index.m3u8", &media);
        assert_eq!(index.kind("/hls/a/part_16.0.ts"), Some(PartKind::Listed));
        assert_eq!(index.kind("/hls/a/part_17.0.ts"), Some(PartKind::Listed));
        assert_eq!(index.kind("/hls/a/part_17.1.ts"), Some(PartKind::Hinted));
        assert_eq!(index.kind("/hls/a/seg_16.ts"), None);
    }
}
