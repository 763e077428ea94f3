//! Stored variants (RFC 9111 4.1): a response with `Vary` is stored per value of the
//! request fields it names, and served only to requests with the same values. Pingora
//! keeps the variants (the primary slot holds the first, the others a variance key each);
//! this module says which variant a request wants.

use pingora::cache::key::HashBinary;
use pingora::cache::{CacheMeta, VarianceBuilder};
use pingora::http::RequestHeader;

/// The variance of `req` against the stored `meta`'s `Vary`, or `None` when it does not
/// vary. (`Vary: *` is never stored: the policy refuses it.)
pub fn of_request(meta: &CacheMeta, req: &RequestHeader) -> Option<HashBinary> {
    of_request_ignoring(meta, req, &[])
}

/// `of_request` with the fields in `ignored` (lowercase) left out: fields the
/// edge itself fixes in the origin request, so the stored representation
/// cannot depend on them.
pub fn of_request_ignoring(
    meta: &CacheMeta,
    req: &RequestHeader,
    ignored: &[&str],
) -> Option<HashBinary> {
    let mut names: Vec<String> = meta
        .headers()
        .get_all(http::header::VARY)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty() && !ignored.contains(&n.as_str()))
        .collect();
    if names.is_empty() {
        return None;
    }
    names.sort();
    names.dedup();
    let mut variance = VarianceBuilder::new();
    for name in &names {
        // several lines of one field are one list (RFC 9110 5.3)
        let value: Vec<&[u8]> = req
            .headers
            .get_all(name.as_str())
            .iter()
            .map(|v| v.as_bytes())
            .collect();
        variance.add_owned_name_value(name.clone(), value.join(&b","[..]));
    }
    variance.finalize()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pingora::http::ResponseHeader;
    use std::time::SystemTime;

    fn meta(vary: Option<&str>) -> CacheMeta {
        let mut header = ResponseHeader::build(200, None).expect("status");
        if let Some(v) = vary {
            header.insert_header("vary", v).expect("header");
        }
        let now = SystemTime::now();
        CacheMeta::new(now, now, 0, 0, header)
    }

    fn req(headers: &[(&str, &str)]) -> RequestHeader {
        let mut r = RequestHeader::build("GET", b"/x.ts", None).expect("request");
        for (k, v) in headers {
            r.append_header(k.to_string(), *v).expect("header");
        }
        r
    }

    #[test]
    fn variants_follow_the_named_request_fields_only() {
        let m = meta(Some("Accept-Encoding"));
        let gzip = of_request(&m, &req(&[("accept-encoding", "gzip")]));
        let plain = of_request(&m, &req(&[]));
        assert!(gzip.is_some() && plain.is_some());
        assert_ne!(gzip, plain);
        assert_eq!(
            gzip,
            of_request(&m, &req(&[("accept-encoding", "gzip"), ("cookie", "x")])),
            "fields not named do not matter"
        );
        assert_eq!(
            of_request(&meta(None), &req(&[("accept-encoding", "gzip")])),
            None
        );
    }

    #[test]
    fn an_ignored_field_makes_no_variant() {
        let m = meta(Some("Accept-Encoding, Accept-Language"));
        let ignoring = |h: &[(&str, &str)]| of_request_ignoring(&m, &req(h), &["accept-encoding"]);
        assert_eq!(ignoring(&[("accept-encoding", "gzip")]), ignoring(&[]));
        assert_ne!(ignoring(&[("accept-language", "fr")]), ignoring(&[]));
        let only = meta(Some("accept-encoding"));
        assert_eq!(
            of_request_ignoring(&only, &req(&[]), &["accept-encoding"]),
            None
        );
    }
}
