//! Request paths: the one normalisation and the one refusal rule that every
//! route applies before the route, the token ACL, the cache key and the origin
//! see a path. Public and token routes alike: a path an origin could resolve
//! to another one is refused, whatever the route.
//!
//! Normalised (RFC 3986 6.2.2): an escaped unreserved character is written as
//! itself (`%61` is `a`, 6.2.2.2), the hex digits of every other escape are
//! upper-cased (`%ec` is `%EC`, 6.2.2.1), and a raw non-ASCII byte is escaped.
//! So every spelling of a path is one cache object and one ACL match.
//!
//! Refused (`PathRefusal`), because some origin resolves them to a path
//! outside what they name:
//! - `.` and `..` segments, also with path parameters (`..;x`, which servlet
//!   containers read as `..`), also once decoded (`..%3B`);
//! - escaped dots (`%2e`), slashes and backslashes (`%2f`, `%5c`), escaped
//!   percent signs (double encoding, `%252e`), escaped control characters;
//! - escapes that do not decode to UTF-8: overlong forms of `.` and `/`
//!   (`%c0%ae`, `%e0%80%ae`), which a lax decoder turns into the real thing,
//!   and the `%uXXXX` form of IIS (a malformed escape);
//! - characters that Unicode compatibility folding (NFKC) or Windows
//!   "best fit" mapping turn into `.`, `/` or `\` (fullwidth dots and
//!   solidus, one-dot leader, division slash...);
//! - a literal backslash, control character, `?` or `#`, and a path that is
//!   not absolute.
//!
//! Pure: no I/O, nothing about routes or tokens.

use std::borrow::Cow;

/// Why a request path is refused; `reason()` is the short text logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathRefusal {
    #[error("path is not absolute")]
    NotAbsolute,
    #[error("path has a dot segment")]
    DotSegment,
    #[error("path has an escaped dot")]
    EncodedDot,
    #[error("path has an escaped separator")]
    EncodedSeparator,
    #[error("path is double encoded")]
    DoubleEncoding,
    #[error("path has a malformed escape")]
    MalformedEscape,
    #[error("path escapes are not utf-8 (overlong or invalid)")]
    NotUtf8,
    #[error("path has a character that folds into a dot or a separator")]
    Lookalike,
    #[error("path has a control character")]
    ControlCharacter,
    #[error("path has a backslash")]
    Backslash,
    #[error("path has a query or fragment delimiter")]
    QueryInPath,
}

impl PathRefusal {
    /// A short description for logs and the token refusal text.
    pub fn reason(self) -> &'static str {
        match self {
            PathRefusal::NotAbsolute => "not absolute",
            PathRefusal::DotSegment => "dot segment",
            PathRefusal::EncodedDot => "encoded dot",
            PathRefusal::EncodedSeparator => "encoded separator",
            PathRefusal::DoubleEncoding => "double encoding",
            PathRefusal::MalformedEscape => "malformed escape",
            PathRefusal::NotUtf8 => "overlong or invalid utf-8",
            PathRefusal::Lookalike => "dot or separator lookalike",
            PathRefusal::ControlCharacter => "control character",
            PathRefusal::Backslash => "backslash",
            PathRefusal::QueryInPath => "query or fragment in path",
        }
    }
}

/// Characters that NFKC or Windows best-fit mapping fold into `.`, `/` or
/// `\`: fullwidth full stop, one dot leader, small full stop, fullwidth
/// solidus, division slash, fraction slash, fullwidth and small reverse
/// solidus, set minus.
const LOOKALIKES: &[char] = &[
    '\u{FF0E}', '\u{2024}', '\u{FE52}', '\u{FF0F}', '\u{2215}', '\u{2044}', '\u{FF3C}', '\u{FE68}',
    '\u{2216}',
];

/// The normalised form of a raw request path (as sent, without the query),
/// or why it is refused. Borrowed when already normal.
pub fn normalise(raw: &str) -> Result<Cow<'_, str>, PathRefusal> {
    if !raw.starts_with('/') {
        return Err(PathRefusal::NotAbsolute);
    }
    match plain_path(raw.as_bytes()) {
        // the common case: nothing to rewrite or decode, no lookalike (all
        // ASCII); only the dot-segment rule can still refuse it
        Some(true) => Err(PathRefusal::DotSegment),
        Some(false) => Ok(Cow::Borrowed(raw)),
        None => normalise_escaped(raw),
    }
}

/// One pass over a path of plain bytes only (every request's path, almost):
/// whether it has a dot segment, as `has_dot_segment` says; `None` as soon as
/// a byte is not plain.
fn plain_path(raw: &[u8]) -> Option<bool> {
    let mut dot_segment = false;
    let mut segment = 0;
    for (i, &b) in raw.iter().enumerate() {
        if !is_plain(b) {
            return None;
        }
        if b == b'/' {
            dot_segment |= is_dot_segment(&raw[segment..i]);
            segment = i + 1;
        }
    }
    Some(dot_segment || is_dot_segment(&raw[segment..]))
}

/// `.` or `..`, also with path parameters (see `has_dot_segment`).
fn is_dot_segment(segment: &[u8]) -> bool {
    if segment.first() != Some(&b'.') {
        return false;
    }
    let name = segment.split(|&b| b == b';').next().unwrap_or(segment);
    name == b"." || name == b".."
}

/// `normalise` for a path with escapes, non-ASCII or refused bytes: every
/// rule, byte by byte.
fn normalise_escaped(raw: &str) -> Result<Cow<'_, str>, PathRefusal> {
    let (normal, decoded) = rewrite_escapes(raw)?;
    let decoded = String::from_utf8(decoded).map_err(|_| PathRefusal::NotUtf8)?;
    if decoded.contains(LOOKALIKES) {
        return Err(PathRefusal::Lookalike);
    }
    if has_dot_segment(&decoded) {
        return Err(PathRefusal::DotSegment);
    }
    Ok(if normal == raw {
        Cow::Borrowed(raw)
    } else {
        Cow::Owned(normal)
    })
}

/// A byte that stays as it is and that no rule looks at: printable ASCII
/// other than `%` (an escape), a backslash, `?` and `#`.
fn is_plain(b: u8) -> bool {
    matches!(b, b' '..=b'~') && !matches!(b, b'%' | b'\\' | b'?' | b'#')
}

/// A `.` or `..` segment, also with path parameters: `..;jsessionid=x` is
/// `..` to servlet containers.
fn has_dot_segment(decoded: &str) -> bool {
    decoded.as_bytes().split(|&b| b == b'/').any(is_dot_segment)
}

/// Whether `raw` is already a normal path that no rule refuses.
pub fn is_normal(raw: &str) -> bool {
    matches!(normalise(raw), Ok(Cow::Borrowed(_)))
}

/// One pass over the bytes: the normalised text, and the fully decoded
/// bytes the dot-segment and UTF-8 rules are checked on.
fn rewrite_escapes(raw: &str) -> Result<(String, Vec<u8>), PathRefusal> {
    let bytes = raw.as_bytes();
    let mut normal = String::with_capacity(raw.len());
    let mut decoded = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b != b'%' {
            check_literal(b)?;
            if b.is_ascii() {
                normal.push(b as char);
            } else {
                push_escape(&mut normal, b);
            }
            decoded.push(b);
            i += 1;
            continue;
        }
        let value = escaped_byte(bytes.get(i + 1..i + 3))?;
        check_escaped(value)?;
        if is_unreserved(value) {
            normal.push(value as char);
        } else {
            push_escape(&mut normal, value);
        }
        decoded.push(value);
        i += 3;
    }
    Ok((normal, decoded))
}

fn check_literal(b: u8) -> Result<(), PathRefusal> {
    match b {
        0..=0x1f | 0x7f => Err(PathRefusal::ControlCharacter),
        b'\\' => Err(PathRefusal::Backslash),
        b'?' | b'#' => Err(PathRefusal::QueryInPath),
        _ => Ok(()),
    }
}

fn check_escaped(value: u8) -> Result<(), PathRefusal> {
    match value {
        b'.' => Err(PathRefusal::EncodedDot),
        b'/' | b'\\' => Err(PathRefusal::EncodedSeparator),
        b'%' => Err(PathRefusal::DoubleEncoding),
        0..=0x1f | 0x7f => Err(PathRefusal::ControlCharacter),
        _ => Ok(()),
    }
}

fn escaped_byte(pair: Option<&[u8]>) -> Result<u8, PathRefusal> {
    let digits = pair
        .and_then(|p| std::str::from_utf8(p).ok())
        .filter(|p| p.bytes().all(|b| b.is_ascii_hexdigit()))
        .ok_or(PathRefusal::MalformedEscape)?;
    u8::from_str_radix(digits, 16).map_err(|_| PathRefusal::MalformedEscape)
}

/// RFC 3986 2.3: ALPHA / DIGIT / "-" / "." / "_" / "~" (an escaped "." is
/// refused before this is asked).
fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn push_escape(out: &mut String, b: u8) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.push('%');
    out.push(HEX[usize::from(b >> 4)] as char);
    out.push(HEX[usize::from(b & 0xf)] as char);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equivalent_spellings_normalise_to_one() {
        for (raw, want) in [
            ("/hls/demo/master.m3u8", "/hls/demo/master.m3u8"),
            ("/hls/%61.ts", "/hls/a.ts"),
            ("/hls/%7eu/%7Ev.ts", "/hls/~u/~v.ts"),
            ("/hls/%ec%95%88.ts", "/hls/%EC%95%88.ts"),
            ("/hls/a%20b.ts", "/hls/a%20b.ts"),
            ("/hls/a%3bb.ts", "/hls/a%3Bb.ts"),
            ("/hls/안.ts", "/hls/%EC%95%88.ts"),
            ("/hls//a/", "/hls//a/"),
            ("/hls/a..b/x..ts", "/hls/a..b/x..ts"),
            ("/hls/a*b!c.ts", "/hls/a*b!c.ts"),
        ] {
            assert_eq!(normalise(raw).as_deref(), Ok(want), "{raw}");
        }
        assert!(is_normal("/hls/demo/seg_1.ts"));
        assert!(!is_normal("/hls/%61.ts"));
        assert!(!is_normal("/hls/../x"));
    }

    #[test]
    fn tricks_are_refused_with_their_reason() {
        use PathRefusal::*;
        for (raw, why) in [
            ("hls/a.ts", NotAbsolute),
            ("", NotAbsolute),
            ("/hls/a/../b", DotSegment),
            ("/hls/a/./b", DotSegment),
            ("/hls/a/..", DotSegment),
            ("/hls/a/..;/b.ts", DotSegment),
            ("/hls/a/..;x=1/b.ts", DotSegment),
            ("/hls/a/..%3b/b.ts", DotSegment),
            ("/hls/a/.;/b.ts", DotSegment),
            ("/hls/%2e%2e/x", EncodedDot),
            ("/hls/.%2E/x", EncodedDot),
            ("/hls/a%2fb", EncodedSeparator),
            ("/hls/a%2Fb", EncodedSeparator),
            ("/hls/a%5cb", EncodedSeparator),
            ("/hls/%252e%252e/x", DoubleEncoding),
            ("/hls/x.ts%2500", DoubleEncoding),
            ("/hls/%c0%ae%c0%ae/x", NotUtf8),
            ("/hls/%c0%af", NotUtf8),
            ("/hls/%e0%80%ae/x", NotUtf8),
            ("/hls/%f0%80%80%ae/x", NotUtf8),
            ("/hls/%ed%a0%80", NotUtf8),
            ("/hls/%ff", NotUtf8),
            ("/hls/%u002e%u002e/x", MalformedEscape),
            ("/hls/a%zz", MalformedEscape),
            ("/hls/a%e", MalformedEscape),
            ("/hls/a%", MalformedEscape),
            ("/hls/%ef%bc%8e%ef%bc%8e/x", Lookalike),
            ("/hls/a%ef%bc%8fb", Lookalike),
            ("/hls/a%e2%88%95b", Lookalike),
            ("/hls/a\u{FF0E}\u{FF0E}/b", Lookalike),
            ("/hls/x%00.ts", ControlCharacter),
            ("/hls/x%0d%0aSet-Cookie:x", ControlCharacter),
            ("/hls/x\n.ts", ControlCharacter),
            ("/hls/a\\b", Backslash),
            ("/hls/a.ts?x", QueryInPath),
            ("/hls/a.ts#x", QueryInPath),
        ] {
            assert_eq!(normalise(raw), Err(why), "{raw:?}");
        }
    }

    #[test]
    fn the_plain_path_shortcut_agrees_with_the_full_rules() {
        // every printable ASCII byte in a few positions: the shortcut taken
        // or not, the answer is the one of the byte-by-byte rules
        for b in b' '..=b'~' {
            let c = b as char;
            for raw in [
                format!("/hls/a{c}b.ts"),
                format!("/hls/{c}/x"),
                format!("/{c}{c}/x"),
                format!("/hls/x.ts{c}"),
            ] {
                assert_eq!(
                    normalise(&raw).map(Cow::into_owned),
                    normalise_escaped(&raw).map(Cow::into_owned),
                    "{raw:?}"
                );
            }
        }
    }

    proptest::proptest! {
        /// The one-pass shortcut answers as the byte-by-byte rules do, for
        /// paths made of the bytes the dot-segment rule looks at.
        #[test]
        fn the_one_pass_shortcut_agrees(tail in "[./;a%?]{0,12}") {
            let raw = format!("/{tail}");
            proptest::prop_assert_eq!(
                normalise(&raw).map(Cow::into_owned),
                normalise_escaped(&raw).map(Cow::into_owned)
            );
        }
    }

    #[test]
    fn a_normal_path_is_a_fixed_point() {
        for raw in ["/hls/%61%ec%95%88.ts", "/a/%7e%41b", "/q/안/x%3a"] {
            let once = normalise(raw).unwrap().into_owned();
            assert_eq!(normalise(&once).as_deref(), Ok(once.as_str()), "{raw}");
        }
    }
}
