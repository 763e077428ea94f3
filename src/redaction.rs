//! What the edge writes about a request in its logs: never a usable secret.
//!
//! Two layers, both pure and needing no configuration:
//! - [`target`]: a request target as logged (Pingora's `request_summary`, the
//!   access log, refusal lines), with the values of token-bearing path
//!   segments (`/hls/hdnts=<redacted>/x.ts`) and query parameters (the token
//!   names, `key`, `token`, and any value carrying an HMAC) replaced;
//! - [`line`]: every formatted log line, whoever wrote it (the edge, Pingora
//!   at any level, a dependency), passes through it on its way out
//!   (`crate::logging`): HMACs and peer signatures lose their hex, and the
//!   values of `Cookie`, `Set-Cookie`, `Authorization`, `Proxy-Authorization`
//!   and the peer header are replaced, in raw (`Cookie: x`), escaped
//!   (`Cookie: x\r\n`) and debug-printed (`"cookie": "x"`) forms alike.
//!
//! An EdgeAuth token without its HMAC, a peer signature without its hex, and
//! a header without its value are of no use to whoever reads the log: what
//! stays (paths, ids, expiry) is what an operator needs to follow a request.

use std::borrow::Cow;

/// What a secret is replaced with.
pub const REDACTED: &str = "<redacted>";

/// Query parameters whose value is a credential, whatever it looks like:
/// the default token names (routes may name others; their values carry an
/// HMAC and are caught by it), the packager's stream `key`.
const SECRET_PARAMS: &[&str] = &["hdnts", "hdntl", "__token__", "token", "key", "sig"];

/// Header fields whose value is a credential.
const SECRET_HEADERS: &[&str] = &[
    "cookie",
    "set-cookie",
    "authorization",
    "proxy-authorization",
    "x-hls-edge-peer",
];

/// A request target (`/path?query`, or a path alone) fit for a log line.
pub fn target(path_and_query: &str) -> Cow<'_, str> {
    let (path, query) = match path_and_query.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (path_and_query, None),
    };
    let path = redact_path(path);
    let query = query.map(redact_query);
    match (&path, &query) {
        (Cow::Borrowed(_), None | Some(Cow::Borrowed(_))) => Cow::Borrowed(path_and_query),
        _ => match query {
            Some(q) => Cow::Owned(format!("{path}?{q}")),
            None => Cow::Owned(path.into_owned()),
        },
    }
}

/// Path segments `name=value` (path-placed tokens) keep their name only.
fn redact_path(path: &str) -> Cow<'_, str> {
    if !path.contains('=') {
        return Cow::Borrowed(path);
    }
    let segments: Vec<String> = path
        .split('/')
        .map(|segment| match segment.split_once('=') {
            Some((name, _)) => format!("{name}={REDACTED}"),
            None => segment.to_string(),
        })
        .collect();
    Cow::Owned(segments.join("/"))
}

fn redact_query(query: &str) -> Cow<'_, str> {
    let secret = |name: &str, value: &str| {
        SECRET_PARAMS.iter().any(|p| name.eq_ignore_ascii_case(p)) || has_hmac(value)
    };
    let any = query
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .any(|(k, v)| secret(k, v));
    if !any {
        return Cow::Borrowed(query);
    }
    let pairs: Vec<String> = query
        .split('&')
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if secret(k, v) => format!("{k}={REDACTED}"),
            _ => kv.to_string(),
        })
        .collect();
    Cow::Owned(pairs.join("&"))
}

fn has_hmac(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    lower.contains("hmac=") || lower.contains("hmac%3d") || lower.contains("hmac%253d")
}

/// One formatted log line with every secret it may hold replaced.
pub fn line(text: &str) -> Cow<'_, str> {
    let lower = text.to_ascii_lowercase();
    let worth_a_look = lower.contains("hmac")
        || lower.contains("sig=")
        || SECRET_HEADERS.iter().any(|h| lower.contains(h))
        || SECRET_PARAMS
            .iter()
            .any(|p| lower.contains(&format!("{p}=")));
    if !worth_a_look {
        return Cow::Borrowed(text);
    }
    let mut out = text.to_string();
    for marker in ["hmac=", "hmac%3d", "hmac%253d", "hmac\\u003d", "sig="] {
        out = redact_after(&out, marker, is_hex_byte);
    }
    for name in SECRET_HEADERS {
        for form in [
            format!("{name}: "),
            format!("{name}\": \""),
            // the same, quoted again by the JSON formatter
            format!("{name}\\\": \\\""),
            format!("{name}="),
        ] {
            out = redact_after(&out, &form, is_header_value_byte);
        }
    }
    for param in ["key=", "token="] {
        for lead in ['?', '&'] {
            out = redact_after(&out, &format!("{lead}{param}"), is_query_value_byte);
        }
    }
    Cow::Owned(out)
}

/// Replaces the run of bytes accepted by `keep_going` after each
/// (ASCII case-insensitive) occurrence of `marker`.
fn redact_after(text: &str, marker: &str, keep_going: fn(u8) -> bool) -> String {
    let lower = text.to_ascii_lowercase();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut from = 0;
    while let Some(found) = lower[from..].find(marker) {
        let start = from + found + marker.len();
        let end = start
            + text.as_bytes()[start..]
                .iter()
                .take_while(|&&b| keep_going(b))
                .count();
        if end > start {
            out.push_str(&text[copied..start]);
            out.push_str(REDACTED);
            copied = end;
        }
        from = end.max(start);
    }
    out.push_str(&text[copied..]);
    out
}

fn is_hex_byte(b: u8) -> bool {
    b.is_ascii_hexdigit()
}

/// A header value runs to the end of its line, its escaped line break, or
/// its closing quote.
fn is_header_value_byte(b: u8) -> bool {
    !matches!(b, b'\r' | b'\n' | b'"' | b'\\')
}

fn is_query_value_byte(b: u8) -> bool {
    !matches!(b, b'&' | b' ' | b'"' | b'#' | b'\\' | b'\r' | b'\n' | b',')
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "exp=1796190090~acl=/hls/a/*~id=v1~hmac=7ed12ecad26183b69f905b62cdb1f8b6";

    #[test]
    fn targets_lose_token_values_and_keep_the_rest() {
        assert_eq!(
            target("/hls/a/seg_1.ts?_HLS_msn=3"),
            "/hls/a/seg_1.ts?_HLS_msn=3"
        );
        assert_eq!(
            target(&format!("/hls/a/x.ts?a=1&hdnts={TOKEN}&b=2")),
            "/hls/a/x.ts?a=1&hdnts=<redacted>&b=2"
        );
        assert_eq!(
            target("/hls/hdnts=exp%3D1~acl%3D%2F*~hmac%3Dab12/a/x.ts"),
            "/hls/hdnts=<redacted>/a/x.ts"
        );
        assert_eq!(
            target("/x?mytoken=exp%3D1%7Ehmac%3Dab12&key=s3cret"),
            "/x?mytoken=<redacted>&key=<redacted>"
        );
    }

    #[test]
    fn lines_lose_hmacs_signatures_and_credential_headers() {
        let pingora =
            format!("Fail to proxy: ConnectRefused, GET /hls/a/x.ts?hdnts={TOKEN}, Host: edge");
        let out = line(&pingora);
        assert!(!out.contains("7ed12eca"), "{out}");
        assert!(
            out.contains("hmac=<redacted>") && out.contains("GET /hls/a/x.ts"),
            "{out}"
        );
        let buf = "buf: GET / HTTP/1.1\\r\\nCookie: hdnts=abc; other=1\\r\\nAuthorization: Bearer t0p\\r\\n";
        let out = line(buf);
        assert!(!out.contains("other=1") && !out.contains("t0p"), "{out}");
        assert!(out.contains("Cookie: <redacted>\\r\\n"), "{out}");
        let debug =
            r#"headers: {"cookie": "hdnts=x", "x-hls-edge-peer": "t=1;sig=abcd", "accept": "*/*"}"#;
        let out = line(debug);
        assert!(!out.contains("hdnts=x") && !out.contains("abcd"), "{out}");
        assert!(out.contains(r#""accept": "*/*""#), "{out}");
        // the JSON formatter escapes the quotes of a debug-printed map
        let json = r#"{"message":"headers: {\"cookie\": \"site=abc123\", \"accept\": \"*/*\"}"}"#;
        let out = line(json);
        assert!(!out.contains("abc123") && out.contains("accept"), "{out}");
        let encoded = "hdnts=exp%3D1%7Ehmac%3D00ff00ff&key=abc";
        let request = format!("GET /x?{encoded} HTTP/1.1");
        let out = line(&request);
        assert!(!out.contains("00ff00ff") && !out.contains("abc"), "{out}");
        assert_eq!(line("nothing to see here"), "nothing to see here");
    }
}
