//! Fuzz target `playlist_rewrite`: arbitrary bytes as an origin's playlist, through the URI
//! rewriter that writes session tokens into playlists (`hls::rewrite::rewrite_uris`, which
//! the proxy calls on the lossy UTF-8 text of the body) and through the playlist parser.
//!
//! Checked on every input:
//! - a rewrite that keeps every URI gives back the body byte for byte;
//! - a rewrite that appends a marker to every URI changes nothing else: removing the markers
//!   gives back the body, there is one marker per URI visited, the lines and their endings
//!   are kept, a URI line gets its marker right after its text and a tag line gets at most
//!   one, only if it is a tag with a `URI` attribute;
//! - parsing returns a playlist or an error, the raw bytes as their lossy text unless they are
//!   not UTF-8 (then `NotUtf8` at the first bad byte); a playlist that parses still parses once a
//!   session token is appended to its URIs, to the same playlist with those URIs; and it
//!   parses again, to the same segments or variants, once written back (when its values can
//!   be written: see `src/hls/playlist/write.rs`).
//!
//! How to run: `tests/fuzz/run.sh`, or see `tests/fuzz/README.md`.

#![no_main]

use std::sync::OnceLock;

use hls_edge::auth::placement::query_value;
use hls_edge::auth::{mint_acl_token, TokenConfig, TokenFields, TokenKey};
use hls_edge::hls::rewrite::{rewrite_uris, URI_TAGS};
use hls_edge::hls::{MediaPlaylist, MultivariantPlaylist, Playlist, PlaylistError};
use libfuzzer_sys::fuzz_target;

/// Appended to each URI by the marker rewrite; inputs have every U+0001 removed first, so
/// each one in the output was put there by the rewriter.
const MARK: &str = "\u{1}uri\u{1}";
const BOM: char = '\u{feff}';

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    assert_eq!(rewrite_uris(&text, |_| None), text);
    check_marked(&text.replace('\u{1}', ""));
    let parsed = Playlist::parse(text.as_bytes());
    check_raw(data, &parsed);
    if let Ok(playlist) = parsed {
        check_tokenized(&text, &playlist, session_param(data.len() % 2));
        check_written(&playlist);
    }
});

/// The raw bytes parse as their lossy text does, unless they are not UTF-8: then the error
/// says where the first bad byte is.
fn check_raw(data: &[u8], lossy: &Result<Playlist, PlaylistError>) {
    let raw = Playlist::parse(data);
    match std::str::from_utf8(data) {
        Ok(_) => assert_eq!(&raw, lossy),
        Err(e) => assert_eq!(
            raw,
            Err(PlaylistError::NotUtf8 {
                offset: e.valid_up_to()
            })
        ),
    }
}

/// Two session parameters as the proxy writes them (`hdntl=<query_value(token)>`): one
/// written as is, one that `query_value` has to encode (an `escape_early` id with `%`).
fn session_param(which: usize) -> &'static str {
    static PARAMS: OnceLock<[String; 2]> = OnceLock::new();
    &PARAMS.get_or_init(|| {
        let key = TokenKey::from_hex("52a152a1c0ffee00aa55aa55deadbeef").expect("hex");
        let mint = |cfg: TokenConfig, id: &str| {
            let fields = TokenFields {
                exp: 1_700_003_600,
                acl: vec!["/hls/demo/*".into()],
                id: Some(id.into()),
                ..TokenFields::default()
            };
            let token = mint_acl_token(&key, &cfg.for_sessions(), fields).expect("mintable");
            format!("hdntl={}", query_value(&token))
        };
        let early = TokenConfig {
            escape_early: true,
            ..TokenConfig::default()
        };
        [
            mint(TokenConfig::default(), "viewer-1"),
            mint(early, "viewer 2/é"),
        ]
    })[which]
}

/// The proxy's rewrite (`with_param` in `src/proxy/playlist_tokens.rs`) for a URI on the
/// edge's own host and without a fragment.
fn with_param(uri: &str, param: &str) -> String {
    let sep = if uri.contains('?') { '&' } else { '?' };
    format!("{uri}{sep}{param}")
}

fn check_marked(body: &str) {
    let mut seen = Vec::new();
    let out = rewrite_uris(body, |uri| {
        assert!(!uri.contains('\n'), "{uri:?}");
        seen.push(uri.to_owned());
        Some(format!("{uri}{MARK}"))
    });
    assert_eq!(out.replace(MARK, ""), body);
    assert_eq!(out.matches(MARK).count(), seen.len());
    assert_eq!(out.starts_with(BOM), body.starts_with(BOM));
    let ins = body.strip_prefix(BOM).unwrap_or(body).split_inclusive('\n');
    let outs: Vec<&str> = out
        .strip_prefix(BOM)
        .unwrap_or(&out)
        .split_inclusive('\n')
        .collect();
    assert_eq!(ins.clone().count(), outs.len());
    for (line_in, line_out) in ins.zip(outs) {
        check_marked_line(line_in, line_out);
    }
}

fn check_marked_line(line_in: &str, line_out: &str) {
    let content_in = line_in.trim_end_matches(['\r', '\n']);
    let content_out = line_out.trim_end_matches(['\r', '\n']);
    assert_eq!(&line_in[content_in.len()..], &line_out[content_out.len()..]);
    let text = content_in.trim();
    let marks = content_out.matches(MARK).count();
    if text.is_empty() {
        assert_eq!(line_in, line_out);
    } else if !text.starts_with('#') {
        assert_eq!(content_out.trim(), format!("{text}{MARK}"), "{line_in:?}");
    } else {
        let name = text[1..].split(':').next().unwrap_or("");
        assert!(
            marks == 0 || (marks == 1 && URI_TAGS.contains(&name)),
            "{line_out:?}"
        );
        assert!(content_out.trim_start().starts_with('#'));
    }
}

/// Appending a session token to every URI of a playlist that parses keeps it parsing, to the
/// same playlist with the token on its URIs.
fn check_tokenized(text: &str, before: &Playlist, param: &str) {
    let out = rewrite_uris(text, |uri| Some(with_param(uri, param)));
    let after = Playlist::parse(out.as_bytes())
        .unwrap_or_else(|e| panic!("rewritten playlist no longer parses: {e}\n{out}"));
    match (before, after) {
        (Playlist::Media(before), Playlist::Media(after)) => {
            let mut want = before.clone();
            for segment in &mut want.segments {
                segment.uri = with_param(&segment.uri, param);
            }
            // The parser keeps the first `URI` attribute, quoted or not; the rewriter rewrites
            // the first quoted one, which is the same one in any valid playlist. The same goes
            // for the LL-HLS tags' URIs.
            let map = before.map_uri.as_deref();
            let rewritten = map.map(|uri| with_param(uri, param));
            assert!(after.map_uri.as_deref() == map || after.map_uri == rewritten);
            want.map_uri = after.map_uri.clone();
            let parts = |m: &MediaPlaylist| {
                let open = m.open_segment.iter().flat_map(|o| o.parts.iter());
                m.segments.iter().flat_map(|s| s.parts.iter()).chain(open).map(|p| p.uri.clone()).collect::<Vec<_>>()
            };
            let others = |m: &MediaPlaylist| {
                let hints = m.preload_hints.iter().map(|h| h.uri.clone());
                hints.chain(m.rendition_reports.iter().map(|r| r.uri.clone())).collect::<Vec<_>>()
            };
            for (old, new) in parts(before).iter().zip(parts(&after)).chain(others(before).iter().zip(others(&after))) {
                assert!(new == *old || new == with_param(old, param), "{old} became {new}");
            }
            let mut without_ll_uris = after.clone();
            for (a, w) in without_ll_uris.segments.iter_mut().zip(&want.segments) {
                for (pa, pw) in a.parts.iter_mut().zip(&w.parts) {
                    pa.uri = pw.uri.clone();
                }
            }
            if let (Some(a), Some(w)) = (without_ll_uris.open_segment.as_mut(), want.open_segment.as_ref()) {
                for (pa, pw) in a.parts.iter_mut().zip(&w.parts) {
                    pa.uri = pw.uri.clone();
                }
            }
            for (a, w) in without_ll_uris.preload_hints.iter_mut().zip(&want.preload_hints) {
                a.uri = w.uri.clone();
            }
            for (a, w) in without_ll_uris.rendition_reports.iter_mut().zip(&want.rendition_reports) {
                a.uri = w.uri.clone();
            }
            assert_eq!(without_ll_uris, want);
        }
        (Playlist::Multivariant(before), Playlist::Multivariant(after)) => {
            let mut want = before.clone();
            for variant in &mut want.variants {
                variant.uri = with_param(&variant.uri, param);
            }
            assert_eq!(after, want);
        }
        (before, after) => panic!("playlist changed kind: {before:?} became {after:?}"),
    }
}

/// A parsed playlist written back parses again to the same segments or variants, when its
/// values can be written (no `"` inside a quoted-string; at least one variant, without
/// which a multivariant playlist reads as a media one).
fn check_written(playlist: &Playlist) {
    match playlist {
        Playlist::Media(media) => check_written_media(media),
        Playlist::Multivariant(multi) => check_written_multivariant(multi),
    }
}

fn check_written_media(media: &MediaPlaylist) {
    let open = media.open_segment.iter().flat_map(|o| o.parts.iter());
    let mut quoted = media.segments.iter().flat_map(|s| s.parts.iter()).chain(open).map(|p| p.uri.as_str());
    if media.map_uri.as_deref().is_some_and(|uri| uri.contains('"')) || quoted.any(|uri| uri.contains('"')) {
        return;
    }
    let text = media.write();
    let Ok(Playlist::Media(again)) = Playlist::parse(text.as_bytes()) else {
        panic!("written media playlist does not parse back:\n{text}");
    };
    let uris = |m: &MediaPlaylist| m.segments.iter().map(|s| s.uri.clone()).collect::<Vec<_>>();
    assert_eq!(uris(&again), uris(media));
    assert_eq!(again.map_uri, media.map_uri);
    assert_eq!(
        (again.target_duration, again.media_sequence, again.end_list),
        (media.target_duration, media.media_sequence, media.end_list)
    );
    assert_eq!(again.playlist_type, media.playlist_type);
}

fn check_written_multivariant(multi: &MultivariantPlaylist) {
    let quote_in_codecs = multi
        .variants
        .iter()
        .any(|v| v.codecs.as_deref().is_some_and(|c| c.contains('"')));
    if multi.variants.is_empty() || quote_in_codecs {
        return;
    }
    let text = multi.write();
    let Ok(Playlist::Multivariant(again)) = Playlist::parse(text.as_bytes()) else {
        panic!("written multivariant playlist does not parse back:\n{text}");
    };
    assert_eq!(again.variants.len(), multi.variants.len());
    for (a, b) in again.variants.iter().zip(&multi.variants) {
        assert_eq!(
            (&a.uri, a.bandwidth, &a.codecs, a.resolution),
            (&b.uri, b.bandwidth, &b.codecs, b.resolution)
        );
    }
}
