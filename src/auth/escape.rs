//! Percent-encoding as the token formats need it: Python's `quote_plus` with lowercased
//! `%xx` (EdgeAuth's `escape_early`), `unquote_plus`, and the decoding of a token value that
//! was URL-encoded as a whole in a query, cookie or path segment.

use std::borrow::Cow;

const HEX_LOWER: &[u8; 16] = b"0123456789abcdef";
const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

/// Python 3.7+ `urllib.parse.quote_plus(s)` (nothing extra safe, so `/` is escaped; `~` is
/// not) with each `%XX` lowercased, as `EdgeAuth._escape_early` does. Space becomes `+`;
/// other bytes outside `A-Za-z0-9_.-~` become `%xx` of their UTF-8 encoding.
pub(crate) fn quote_plus_lower(s: &str) -> Cow<'_, str> {
    if s.bytes().all(is_unreserved) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if is_unreserved(b) {
            out.push(char::from(b));
        } else if b == b' ' {
            out.push('+');
        } else {
            push_escape(&mut out, b, HEX_LOWER);
        }
    }
    Cow::Owned(out)
}

/// Percent-encodes every byte outside `A-Za-z0-9_.-~` with uppercase `%XX` (what
/// `encodeURIComponent` does, `~` left alone), for placing a whole token in a URL.
pub(crate) fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if is_unreserved(b) {
            out.push(char::from(b));
        } else {
            push_escape(&mut out, b, HEX_UPPER);
        }
    }
    out
}

/// Python's `unquote_plus` when `plus` is set (`+` is a space), `unquote` otherwise: valid
/// `%xx` escapes (either case) become bytes, anything else is kept as written. `None` when
/// the result is not UTF-8 (Python would substitute U+FFFD; a token value never needs that).
pub(crate) fn unquote(s: &str, plus: bool) -> Option<Cow<'_, str>> {
    if !(s.contains('%') || plus && s.contains('+')) {
        return Some(Cow::Borrowed(s));
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => match (
                bytes.get(i + 1).and_then(hex_val),
                bytes.get(i + 2).and_then(hex_val),
            ) {
                (Some(hi), Some(lo)) => {
                    out.push(hi << 4 | lo);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok().map(Cow::Owned)
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'~')
}

fn push_escape(out: &mut String, b: u8, digits: &[u8; 16]) {
    out.push('%');
    out.push(char::from(digits[usize::from(b >> 4)]));
    out.push(char::from(digits[usize::from(b & 0x0f)]));
}

fn hex_val(b: &u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quote_plus_matches_python_with_lowercase_escapes() {
        // python3 -c "from urllib.parse import quote_plus; print(quote_plus(s))", lowercased
        assert_eq!(quote_plus_lower("abc-_.~XYZ09"), "abc-_.~XYZ09");
        assert_eq!(quote_plus_lower("a b/c"), "a+b%2fc");
        assert_eq!(quote_plus_lower("x=y&z!*'()"), "x%3dy%26z%21%2a%27%28%29");
        assert_eq!(quote_plus_lower("::1"), "%3a%3a1");
        assert_eq!(quote_plus_lower("안"), "%ec%95%88");
        assert_eq!(quote_plus_lower("100%+"), "100%25%2b");
    }

    #[test]
    fn unquote_plus_inverts_quote_plus() {
        for s in ["a b/c", "x=y&z", "::1", "안녕 세상", "100%+", "~tilde~"] {
            assert_eq!(unquote(&quote_plus_lower(s), true).as_deref(), Some(s));
        }
        assert_eq!(unquote("%2F%2f", false).as_deref(), Some("//"));
        assert_eq!(unquote("a+b", false).as_deref(), Some("a+b"));
        // invalid escapes are kept, as Python keeps them
        assert_eq!(unquote("%zz%4", true).as_deref(), Some("%zz%4"));
        assert_eq!(unquote("%ff", true), None);
    }

    #[test]
    fn encode_component_round_trips() {
        let t = "exp=1~acl=/hls/*!/x?~id=a+b%2f~hmac=00";
        let e = encode_component(t);
        assert!(!e.contains(['=', '/', '+', '!', '*', '?']));
        assert_eq!(unquote(&e, true).as_deref(), Some(t));
    }
}
