//! Where a request carries its token (design section 4): a query parameter
//! (`?hdnts=...`), a cookie (`Cookie: hdnts=...`), or a path segment
//! (`/hls/hdnts=.../rest/of/path`, so relative URIs in a playlist inherit it). The parameter
//! name is per route; [`DEFAULT_TOKEN_NAME`] is the one Akamai's segmented media protection
//! uses. Also the inverse, for the playlist rewriter: a token made safe for a query value or
//! a path segment.
//!
//! A token may arrive as written (EdgeAuth's convention: with `escape_early` its values are
//! already URL-safe, and `acl=/hls/*` is legal in a query) or URL-encoded as a whole
//! (`exp%3D...%7Eacl%3D%2Fhls%2F*`). Decoding an as-written `escape_early` token would break
//! its HMAC, and not decoding an encoded one would too, so a [`TokenValue`] keeps both
//! readings and the verifier tries them in the likelier order ([`TokenValue::candidates`]).

use std::borrow::Cow;

use super::escape;

/// The default token parameter, cookie and path segment name.
pub const DEFAULT_TOKEN_NAME: &str = "hdnts";

/// Where a token was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    Query,
    Cookie,
    PathSegment,
}

/// A token value as found in a request, with its URL-decoded reading.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenValue {
    placement: Placement,
    sent: String,
    decoded: Option<String>,
}

impl TokenValue {
    /// `sent` found at `placement`; in a query `+` also decodes to a space.
    pub fn new(placement: Placement, sent: &str) -> TokenValue {
        let decoded = escape::unquote(sent, placement == Placement::Query)
            .filter(|d| d != sent)
            .map(Cow::into_owned);
        TokenValue {
            placement,
            sent: sent.to_owned(),
            decoded,
        }
    }

    pub fn placement(&self) -> Placement {
        self.placement
    }

    /// The value exactly as it was in the request.
    pub fn sent(&self) -> &str {
        &self.sent
    }

    /// The readings to verify, likelier first. A token always has a literal `=` (`exp=`,
    /// `hmac=`), so in a query or cookie a value without one was encoded as a whole and only
    /// its decoded reading can be right; a value with one is tried as sent first. In a path
    /// segment a token with `/` in its ACL must have been encoded, so decoded comes first.
    pub fn candidates(&self) -> impl Iterator<Item = &str> {
        let sent = Some(self.sent.as_str());
        let decoded = self.decoded.as_deref();
        let order = match (self.placement, decoded) {
            (_, None) => [sent, None],
            (Placement::PathSegment, Some(_)) => [decoded, sent],
            (_, Some(_)) if self.sent.contains('=') => [sent, decoded],
            (_, Some(_)) => [decoded, None],
        };
        order.into_iter().flatten()
    }
}

/// The token in query string `query` (without the `?`) under parameter `name`: the first
/// non-empty one.
pub fn from_query(query: &str, name: &str) -> Option<TokenValue> {
    query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, v)| *k == name && !v.is_empty())
        .map(|(_, v)| TokenValue::new(Placement::Query, v))
}

/// The token in a `Cookie` header value (RFC 6265 §4.2.1 `name=value; name2=value2`) under
/// cookie `name`; a value in double quotes is unquoted.
pub fn from_cookie(header: &str, name: &str) -> Option<TokenValue> {
    header
        .split(';')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.trim(), v.trim()))
        .map(|(k, v)| {
            (
                k,
                v.strip_prefix('"')
                    .and_then(|v| v.strip_suffix('"'))
                    .unwrap_or(v),
            )
        })
        .find(|(k, v)| *k == name && !v.is_empty())
        .map(|(_, v)| TokenValue::new(Placement::Cookie, v))
}

/// The token in the first path segment `name=<token>`, and the path without that segment:
/// `/hls/hdnts=T/demo/x.ts` gives `T` and `/hls/demo/x.ts` (the path to match the ACL
/// against, and to use for the cache key and the origin).
pub fn from_path(path: &str, name: &str) -> Option<(TokenValue, String)> {
    let mut start = 0;
    for segment in path.split('/') {
        let end = start + segment.len();
        let value = segment
            .strip_prefix(name)
            .and_then(|rest| rest.strip_prefix('='));
        if let Some(value) = value.filter(|v| !v.is_empty()) {
            // drop the segment and the `/` before it
            let before = &path[..start.saturating_sub(1)];
            let rest = format!("{before}{}", &path[end..]);
            let rest = if rest.is_empty() {
                "/".to_string()
            } else {
                rest
            };
            return Some((TokenValue::new(Placement::PathSegment, value), rest));
        }
        start = end + 1;
    }
    None
}

/// `token` as a query parameter value: as written when every character is safe in a query
/// and unambiguous (no `&`, `+`, `%`, `;`, `#`, space...), else encoded as a whole.
pub fn query_value(token: &str) -> Cow<'_, str> {
    let safe = |b: u8| b.is_ascii_alphanumeric() || b"-._~!$'()*,=:@/?".contains(&b);
    if token.bytes().all(safe) {
        Cow::Borrowed(token)
    } else {
        Cow::Owned(escape::encode_component(token))
    }
}

/// The path segment `name=<token>`, the token encoded as a whole if it has a character a
/// segment cannot hold as is (`/` in the ACL, `?`, `%`, `;`...).
pub fn path_segment(name: &str, token: &str) -> String {
    let safe = |b: u8| b.is_ascii_alphanumeric() || b"-._~!$'()*,=:@".contains(&b);
    if token.bytes().all(safe) {
        format!("{name}={token}")
    } else {
        format!("{name}={}", escape::encode_component(token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: &str = "exp=5~acl=/hls/*~hmac=ab";

    fn cands(v: &TokenValue) -> Vec<&str> {
        v.candidates().collect()
    }

    #[test]
    fn query_parameter_as_written_or_encoded() {
        let v = from_query(&format!("a=1&hdnts={T}&b=2"), "hdnts").unwrap();
        assert_eq!((v.placement(), cands(&v)), (Placement::Query, vec![T]));
        let enc = from_query("hdnts=exp%3D5%7Eacl%3D%2Fhls%2F*%7Ehmac%3Dab", "hdnts").unwrap();
        assert_eq!(cands(&enc), vec![T]);
        let lower = from_query("hdnts=exp%3d5%7eacl%3d%2fhls%2f*%7ehmac%3dab", "hdnts").unwrap();
        assert_eq!(cands(&lower), vec![T]);
        // an escape_early token as written: as sent first, decoded only as a fallback
        let early = from_query("hdnts=exp=5~acl=/*~id=a+b%2fc~hmac=ab", "hdnts").unwrap();
        assert_eq!(
            cands(&early),
            vec![
                "exp=5~acl=/*~id=a+b%2fc~hmac=ab",
                "exp=5~acl=/*~id=a b/c~hmac=ab"
            ]
        );
        assert_eq!(from_query("hdntsx=1&xhdnts=2&hdnts=", "hdnts"), None);
        assert_eq!(from_query("", "hdnts"), None);
        let named = from_query(&format!("__token__={T}"), "__token__").unwrap();
        assert_eq!(named.sent(), T);
    }

    #[test]
    fn cookie() {
        let v = from_cookie(&format!("a=1; hdnts={T} ;b=2"), "hdnts").unwrap();
        assert_eq!((v.placement(), cands(&v)), (Placement::Cookie, vec![T]));
        let quoted = from_cookie(&format!("hdnts=\"{T}\""), "hdnts").unwrap();
        assert_eq!(quoted.sent(), T);
        let enc = from_cookie("hdnts=exp%3D5%7Eacl%3D%2Fhls%2F*%7Ehmac%3Dab", "hdnts").unwrap();
        assert_eq!(cands(&enc), vec![T]);
        assert_eq!(from_cookie("other=1", "hdnts"), None);
    }

    #[test]
    fn path_segment_is_found_and_removed() {
        let seg = path_segment("hdnts", T);
        assert_eq!(seg, "hdnts=exp%3D5~acl%3D%2Fhls%2F%2A~hmac%3Dab");
        assert_eq!(
            path_segment("hdnts", "exp=5~acl=*~hmac=ab"),
            "hdnts=exp=5~acl=*~hmac=ab"
        );
        let path = format!("/hls/{seg}/demo/720p/seg_1.ts");
        let (v, rest) = from_path(&path, "hdnts").unwrap();
        assert_eq!(rest, "/hls/demo/720p/seg_1.ts");
        assert_eq!(v.placement(), Placement::PathSegment);
        assert_eq!(v.candidates().next(), Some(T));
        let (_, rest) = from_path("/hdnts=x/a.ts", "hdnts").unwrap();
        assert_eq!(rest, "/a.ts");
        let (_, rest) = from_path("/hls/hdnts=x", "hdnts").unwrap();
        assert_eq!(rest, "/hls");
        // Akamai's own path tokens carry `acl=%2f*` as signed: tried as sent second
        let (ak, _) = from_path("/hls/hdntl=exp=5~acl=%2f*~hmac=ab/i.m3u8", "hdntl").unwrap();
        assert_eq!(
            cands(&ak),
            vec!["exp=5~acl=/*~hmac=ab", "exp=5~acl=%2f*~hmac=ab"]
        );
        assert_eq!(from_path("/hls/hdntsx=1/a.ts", "hdnts"), None);
        assert_eq!(from_path("/hls/hdnts=/a.ts", "hdnts"), None);
    }

    #[test]
    fn query_value_keeps_safe_tokens_and_encodes_the_rest() {
        assert_eq!(query_value(T), T);
        let early = "exp=5~acl=/*~id=a+b%2fc~hmac=ab";
        let q = query_value(early);
        assert!(!q.contains('='));
        let v = from_query(&format!("hdnts={q}"), "hdnts").unwrap();
        assert_eq!(cands(&v), vec![early]);
    }
}
