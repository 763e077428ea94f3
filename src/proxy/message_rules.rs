//! The HTTP message rules every request meets before routing, whatever its
//! route and protocol (HTTP/1.x and HTTP/2 requests both arrive here as one
//! `RequestHeader`):
//!
//! - no `Upgrade` (RFC 9110 7.8): an HLS route has no use for another
//!   protocol, and a `101` from an origin would turn the connection into a
//!   tunnel that no later check sees. Refused, never passed on;
//! - no body (RFC 9110 9.3.1, 9.3.2): the edge serves GET and HEAD, whose
//!   content has no meaning; a body is what request smuggling hides a second
//!   request in (RFC 9112 11.2), so it is refused and the connection closed
//!   before a byte of it is read as anything;
//! - a target in origin-form (RFC 9112 3.2.1): an absolute-form target
//!   (3.2.2) of scheme http or https is turned into origin-form, its authority
//!   becoming the `Host`; any other scheme is refused;
//! - one valid `Host` (RFC 9112 3.2): missing on HTTP/1.1 (or with no
//!   authority at all on HTTP/2), repeated, or not a `host[:port]`: 400.
//!
//! What goes on to the origin (hop-by-hop fields removed, origin-form) is
//! `upstream_request`'s job.

use http::header::{
    HeaderMap, HeaderName, CONNECTION, CONTENT_LENGTH, HOST, TRANSFER_ENCODING, UPGRADE,
};
use http::uri::{Authority, Uri};
use http::Version;
use pingora::http::RequestHeader;
use pingora::proxy::Session;

/// Why a request breaks a message rule; `reason()` is the bounded label of
/// `X-Edge-Refused` and of the refusal metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MessageRefusal {
    #[error("request asks for a protocol upgrade")]
    Upgrade,
    #[error("request has a body")]
    Body,
    #[error("request has no valid Host")]
    Host,
    #[error("request target is not an http(s) URI")]
    Target,
}

impl MessageRefusal {
    pub fn reason(self) -> &'static str {
        match self {
            MessageRefusal::Upgrade => "upgrade",
            MessageRefusal::Body => "body",
            MessageRefusal::Host => "host",
            MessageRefusal::Target => "target",
        }
    }
}

/// Applies the rules; on success the request target is in origin-form.
pub fn check(session: &mut Session) -> Result<(), MessageRefusal> {
    if !session.is_body_empty() {
        return Err(MessageRefusal::Body);
    }
    check_header(session.req_header_mut())
}

/// The rules a request's header alone decides. An HTTP/2 request names its
/// authority in `:authority` (the URI) rather than `Host` (RFC 9113 8.3.1):
/// it becomes the `Host`, so that both protocols look the same from here on.
fn check_header(req: &mut RequestHeader) -> Result<(), MessageRefusal> {
    if asks_upgrade(&req.headers) {
        return Err(MessageRefusal::Upgrade);
    }
    if declares_body(&req.headers) {
        return Err(MessageRefusal::Body);
    }
    if let Some((authority, origin_form)) = absolute_target(req.raw_path())? {
        // RFC 9112 3.2.2: the target's authority replaces any Host
        req.insert_header(HOST, authority.as_str())
            .map_err(|_| MessageRefusal::Host)?;
        req.set_uri(origin_form);
    }
    if !req.headers.contains_key(HOST) {
        if let Some(authority) = req.uri.authority().map(|a| a.as_str().to_string()) {
            req.insert_header(HOST, authority)
                .map_err(|_| MessageRefusal::Host)?;
        }
    }
    check_host(&req.headers, req.version)
}

/// The HTTP/2 cleartext upgrade's settings (RFC 7540 3.2.1).
const HTTP2_SETTINGS: HeaderName = HeaderName::from_static("http2-settings");

/// An `Upgrade` field, `upgrade` among the `Connection` options, or the
/// HTTP/2 cleartext upgrade's `HTTP2-Settings`. (This and `declares_body`
/// walk the few fields a request has: cheaper than a hashed lookup per name.)
fn asks_upgrade(headers: &HeaderMap) -> bool {
    headers.iter().any(|(name, value)| {
        *name == UPGRADE
            || *name == HTTP2_SETTINGS
            || (*name == CONNECTION
                && value.to_str().is_ok_and(|v| {
                    v.split(',')
                        .any(|option| option.trim().eq_ignore_ascii_case("upgrade"))
                }))
    })
}

/// `Transfer-Encoding` of any kind, or a `Content-Length` other than 0.
fn declares_body(headers: &HeaderMap) -> bool {
    headers.iter().any(|(name, value)| {
        *name == TRANSFER_ENCODING
            || (*name == CONTENT_LENGTH && value.as_bytes().trim_ascii() != b"0")
    })
}

/// For an absolute-form target (the request-target as sent: Pingora keeps
/// only the path in the `Uri` and has already checked that the authority
/// agrees with any `Host`): its authority and the origin-form target.
fn absolute_target(raw: &[u8]) -> Result<Option<(Authority, Uri)>, MessageRefusal> {
    if raw.first().is_none_or(|&b| b == b'/') || raw == b"*" {
        return Ok(None);
    }
    let uri = Uri::try_from(raw).map_err(|_| MessageRefusal::Target)?;
    let scheme = uri.scheme_str().ok_or(MessageRefusal::Target)?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(MessageRefusal::Target);
    }
    let authority = uri.authority().cloned().ok_or(MessageRefusal::Target)?;
    let path_and_query = uri.path_and_query().map_or("/", |p| p.as_str());
    let origin_form = path_and_query
        .parse::<Uri>()
        .map_err(|_| MessageRefusal::Target)?;
    Ok(Some((authority, origin_form)))
}

/// Exactly one `Host` of the form `host[:port]` (no userinfo, path or
/// spaces), required from HTTP/1.1 on; HTTP/1.0 may go without.
fn check_host(headers: &HeaderMap, version: Version) -> Result<(), MessageRefusal> {
    let mut hosts = headers.get_all(HOST).iter();
    let (first, second) = (hosts.next(), hosts.next());
    match (first, second) {
        (_, Some(_)) => Err(MessageRefusal::Host),
        (None, _) if version == Version::HTTP_10 || version == Version::HTTP_09 => Ok(()),
        (None, _) => Err(MessageRefusal::Host),
        (Some(value), None) => {
            let text = value.to_str().map_err(|_| MessageRefusal::Host)?;
            if is_host(text) {
                Ok(())
            } else {
                Err(MessageRefusal::Host)
            }
        }
    }
}

/// RFC 9110 7.2 `Host = uri-host [ ":" port ]`.
fn is_host(text: &str) -> bool {
    plain_host(text.as_bytes()) || authority_host(text)
}

/// The form nearly every player sends, `name[:digits]` with a name of
/// letters, digits, dots and hyphens: a valid `Host` on its face, read
/// without building an `Authority` (an allocation per request).
fn plain_host(text: &[u8]) -> bool {
    let (name, port) = match text.iter().position(|&b| b == b':') {
        Some(colon) => (&text[..colon], Some(&text[colon + 1..])),
        None => (text, None),
    };
    !name.is_empty()
        && name
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && port.is_none_or(|p| !p.is_empty() && p.iter().all(u8::is_ascii_digit))
}

/// Any other form, by `http`'s authority grammar: brackets, percent
/// escapes, sub-delimiters, and everything to refuse.
fn authority_host(text: &str) -> bool {
    !text.is_empty()
        && !text.contains('@')
        && text
            .parse::<Authority>()
            .is_ok_and(|a| !a.host().is_empty() && a.as_str() == text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (k, v) in pairs {
            map.append(*k, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn upgrades_in_any_spelling() {
        assert!(asks_upgrade(&headers(&[("upgrade", "websocket")])));
        assert!(asks_upgrade(&headers(&[(
            "connection",
            "keep-alive, Upgrade"
        )])));
        assert!(asks_upgrade(&headers(&[("http2-settings", "AAM")])));
        assert!(!asks_upgrade(&headers(&[("connection", "keep-alive")])));
    }

    #[test]
    fn bodies_by_their_framing() {
        assert!(declares_body(&headers(&[("content-length", "12")])));
        assert!(declares_body(&headers(&[("transfer-encoding", "chunked")])));
        assert!(declares_body(&headers(&[(
            "transfer-encoding",
            "identity"
        )])));
        assert!(!declares_body(&headers(&[("content-length", "0")])));
        assert!(!declares_body(&headers(&[])));
    }

    #[test]
    fn absolute_form_becomes_origin_form() {
        let (authority, target) = absolute_target(b"http://player.example:8080/hls/a.ts?x=1")
            .unwrap()
            .unwrap();
        assert_eq!(authority.as_str(), "player.example:8080");
        assert_eq!(target.to_string(), "/hls/a.ts?x=1");
        let (_, root) = absolute_target(b"https://edge").unwrap().unwrap();
        assert_eq!(root.to_string(), "/");
        assert_eq!(absolute_target(b"/hls/a.ts"), Ok(None));
        for bad in [&b"ftp://x/hls/a.ts"[..], b"x:y", b"hls/a.ts"] {
            assert_eq!(absolute_target(bad), Err(MessageRefusal::Target), "{bad:?}");
        }
    }

    #[test]
    fn http2_authority_becomes_the_host() {
        let mut req = RequestHeader::build("GET", b"/hls/a.ts", None).unwrap();
        req.set_version(Version::HTTP_2);
        req.set_uri("https://edge.example/hls/a.ts".parse().unwrap());
        assert_eq!(check_header(&mut req), Ok(()));
        assert_eq!(req.headers.get(HOST).unwrap(), "edge.example");
        let mut bare = RequestHeader::build("GET", b"/hls/a.ts", None).unwrap();
        bare.set_version(Version::HTTP_2);
        assert_eq!(check_header(&mut bare), Err(MessageRefusal::Host));
        let mut h1 = RequestHeader::build("GET", b"/hls/a.ts", None).unwrap();
        h1.insert_header("upgrade", "websocket").unwrap();
        assert_eq!(check_header(&mut h1), Err(MessageRefusal::Upgrade));
    }

    proptest::proptest! {
        /// The shortcut never accepts a `Host` the authority grammar refuses,
        /// so `is_host` answers as `authority_host` alone would.
        #[test]
        fn the_plain_host_shortcut_agrees_with_the_grammar(
            text in "[A-Za-z0-9.:@%\\[\\]_~!$&'()*+,;= /-]{0,24}"
        ) {
            proptest::prop_assert_eq!(is_host(&text), authority_host(&text));
        }

        #[test]
        fn plain_hosts_are_hosts(text in "[A-Za-z0-9.-]{1,20}(:[0-9]{1,6})?") {
            proptest::prop_assert!(plain_host(text.as_bytes()));
            proptest::prop_assert!(authority_host(&text));
        }
    }

    #[test]
    fn host_rules() {
        let v11 = Version::HTTP_11;
        assert_eq!(check_host(&headers(&[("host", "edge:8080")]), v11), Ok(()));
        assert_eq!(check_host(&headers(&[("host", "[::1]:80")]), v11), Ok(()));
        assert_eq!(check_host(&headers(&[]), Version::HTTP_10), Ok(()));
        for bad in [&[][..], &[("host", "a"), ("host", "b")], &[("host", "")]] {
            assert_eq!(check_host(&headers(bad), v11), Err(MessageRefusal::Host));
        }
        for bad in ["a b", "x/y", "u@x", ":80", "x?y"] {
            assert!(!is_host(bad), "{bad}");
        }
        assert!(is_host("edge.example") && is_host("127.0.0.1:9090"));
    }
}
