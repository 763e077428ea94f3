//! Whether a request path is covered by a token's ACL.
//!
//! The path is matched percent-encoded, without the query, as Akamai does: its tests match
//! `/q_escape/%EC%95%88` with `/q_escape/?????????`. The proxy hands over the path already
//! normalised (`crate::request_path`: escaped unreserved characters decoded, hex upper-cased).
//! A raw path can still mean another path to the origin, so first [`check_path`] refuses
//! every path the edge's one path rule refuses: `.`/`..` segments (also as `..;param`),
//! escaped dots, slashes and backslashes, double encoding, escapes that are not UTF-8
//! (overlong dots), dot and slash lookalikes, control characters, a literal backslash, and
//! malformed escapes. Then each ACL entry is a glob: `*` matches any run of characters including `/`
//! (so `/hls/demo/*` covers every rendition below it), `?` exactly one character, anything
//! else itself. ACL entries are never unescaped.

use std::fmt;

/// Why a path is not covered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AclRefusal {
    /// No ACL entry matches (or, for a URL token, the signed path is another one).
    NoMatch,
    /// The path could resolve outside what it names; the text says how.
    UnsafePath(&'static str),
}

impl fmt::Display for AclRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AclRefusal::NoMatch => f.write_str("no acl entry matches"),
            AclRefusal::UnsafePath(why) => write!(f, "unsafe path ({why})"),
        }
    }
}

/// Refuses a raw request path (as sent, without the query) that could escape an ACL: the
/// edge's one path rule ([`crate::request_path::normalise`]), so that a token route refuses
/// exactly what a public route refuses.
pub fn check_path(path: &str) -> Result<(), AclRefusal> {
    crate::request_path::normalise(path)
        .map(|_| ())
        .map_err(|why| AclRefusal::UnsafePath(why.reason()))
}

/// Whether `path` matches any of the ACL `entries`. Call [`check_path`] first.
pub fn matches_any(entries: &[String], path: &str) -> bool {
    entries
        .iter()
        .any(|glob| glob_match(glob.as_bytes(), path.as_bytes()))
}

/// Glob match over whole strings: `*` any run (including `/` and nothing), `?` one UTF-8
/// character. Two pointers, backtracking to the last `*` only: no recursion, at worst
/// `glob.len() * text.len()` steps.
pub fn glob_match(glob: &[u8], text: &[u8]) -> bool {
    let (mut g, mut t) = (0, 0);
    // where to resume after the last `*`: (glob index after it, text index it now covers to)
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match glob.get(g) {
            Some(b'*') => {
                star = Some((g + 1, t));
                g += 1;
            }
            Some(b'?') => {
                g += 1;
                t += char_len(text[t]);
            }
            Some(&c) if c == text[t] => {
                g += 1;
                t += 1;
            }
            _ => match star {
                Some((sg, st)) => {
                    let next = st + char_len(text[st]);
                    star = Some((sg, next));
                    g = sg;
                    t = next;
                }
                None => return false,
            },
        }
    }
    glob[g..].iter().all(|&c| c == b'*') && t == text.len()
}

/// Length of the UTF-8 character starting with `lead` (1 for ASCII and stray bytes).
fn char_len(lead: u8) -> usize {
    match lead {
        0xf0..=0xf7 => 4,
        0xe0..=0xef => 3,
        0xc0..=0xdf => 2,
        _ => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(glob: &str, text: &str) -> bool {
        glob_match(glob.as_bytes(), text.as_bytes())
    }

    #[test]
    fn globs_as_akamai_matches_them() {
        assert!(m("/hls/demo/*", "/hls/demo/index.m3u8"));
        assert!(m("/hls/demo/*", "/hls/demo/720p/seg_1.ts"));
        assert!(m("/hls/demo/*", "/hls/demo/"));
        assert!(!m("/hls/demo/*", "/hls/demo"));
        assert!(!m("/hls/demo/*", "/hls/demo2/x.ts"));
        assert!(m("/*", "/anything/at/all"));
        assert!(m("*", ""));
        assert!(m("/q_ignore/??r??", "/q_ignore/world"));
        assert!(!m("/q_ignore/??r??", "/q_ignore/worlds"));
        assert!(m("/c_ignore/?", "/c_ignore/a"));
        assert!(m("/h_ignore/??*", "/h_ignore/112"));
        assert!(!m("/h_ignore/??*", "/h_ignore/1"));
        // Akamai's own test: one encoded Hangul syllable is nine characters on the wire
        assert!(m("/q_escape/?????????", "/q_escape/%EC%95%88"));
        assert!(m("/q/?", "/q/안"));
        assert!(m("/a/*/seg_?.ts", "/a/x/y/seg_1.ts"));
        assert!(m("/a/*.ts", "/a/b.ts.ts"));
        assert!(!m("/a/*.ts", "/a/b.ts.m3u8"));
        assert!(m("/a/**b", "/a/xxb"));
        assert!(!m("/a/exact.m3u8", "/a/exact.m3u8x"));
    }

    #[test]
    fn glob_match_is_not_exponential() {
        let text = "a".repeat(4000);
        let glob = "*a*a*a*a*a*a*a*a*a*a*b";
        assert!(!m(glob, &text));
    }

    #[test]
    fn paths_that_could_escape_are_refused() {
        for path in [
            "/hls/a/../b/x.ts",
            "/hls/a/./x.ts",
            "/hls/a/..",
            "/hls/a/..;x=1/b/x.ts",
            "/hls/a/%2e%2e/b/x.ts",
            "/hls/a/%2E%2E/b/x.ts",
            "/hls/a/.%2e/b/x.ts",
            "/hls/a%2f..%2fb/x.ts",
            "/hls/a/..%2Fb/x.ts",
            "/hls/a/..%5cb/x.ts",
            "/hls/a/..\\b/x.ts",
            "/hls/a/%252e%252e/b/x.ts",
            "/hls/a/%c0%ae%c0%ae/b/x.ts",
            "/hls/a/x.ts%00.m3u8",
            "/hls/a/x%0a.ts",
            "/hls/a/x%zz.ts",
            "/hls/a/x%4",
            "/hls/a/x.ts?y",
            "hls/a/x.ts",
            "",
        ] {
            assert!(
                matches!(check_path(path), Err(AclRefusal::UnsafePath(_))),
                "{path}"
            );
        }
        for path in [
            "/hls/a/x.ts",
            "/hls/a/..x/y.ts",
            "/hls/a/x..ts",
            "/hls/a%20b/%EC%95%88.ts",
            "/hls//a/",
        ] {
            assert_eq!(check_path(path), Ok(()), "{path}");
        }
    }
}
