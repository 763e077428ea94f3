use super::*;

fn resp(headers: &[(&str, &str)]) -> ResponseHeader {
    let mut r = ResponseHeader::build(200, None).expect("status");
    for (k, v) in headers {
        r.append_header(k.to_string(), *v).expect("header");
    }
    r
}

fn read(headers: &[(&str, &str)]) -> OriginDirectives {
    let targeted = http::HeaderName::from_static("hls-edge-cache-control");
    OriginDirectives::read(&resp(headers), Some(&targeted), SystemTime::now())
}

fn s(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[test]
fn shared_storage_is_refused_by_no_store_private_and_unauthorised_requests() {
    assert!(read(&[]).storable(false));
    assert!(!read(&[("cache-control", "no-store")]).storable(false));
    assert!(!read(&[("cache-control", "private, max-age=3600")]).storable(false));
    // RFC 9111 3.5: Authorization needs public, s-maxage or must-revalidate
    assert!(!read(&[("cache-control", "max-age=60")]).storable(true));
    assert!(read(&[("cache-control", "public, max-age=60")]).storable(true));
    assert!(read(&[("cache-control", "s-maxage=60")]).storable(true));
    assert!(!read(&[]).storable(true));
}

#[test]
fn lifetimes_follow_rfc_9111_order() {
    assert_eq!(read(&[]).lifetime(), None);
    assert_eq!(
        read(&[("cache-control", "max-age=60")]).lifetime(),
        Some(s(60))
    );
    assert_eq!(
        read(&[("cache-control", "max-age=60, s-maxage=10")]).lifetime(),
        Some(s(10)),
        "s-maxage first for a shared cache"
    );
    assert_eq!(
        read(&[("cache-control", "no-cache")]).lifetime(),
        Some(s(0))
    );
    let date = httpdate::fmt_http_date(SystemTime::now());
    let expires = httpdate::fmt_http_date(SystemTime::now() + s(120));
    let d = read(&[("date", &date), ("expires", &expires)]);
    assert!(d.lifetime().is_some_and(|l| l >= s(119) && l <= s(120)));
    let past = read(&[("expires", "0")]);
    assert_eq!(
        past.lifetime(),
        Some(s(0)),
        "an invalid Expires is in the past"
    );
}

#[test]
fn targeted_fields_govern_this_edge_above_cache_control() {
    // RFC 9213: CDN-Cache-Control over Cache-Control for the edge's storage...
    let cdn = read(&[
        ("cache-control", "no-store"),
        ("cdn-cache-control", "max-age=30"),
    ]);
    assert!(cdn.storable(false));
    assert_eq!(cdn.lifetime(), Some(s(30)));
    // ...while players are still told the origin's Cache-Control
    assert_eq!(cdn.downstream(), Downstream::NoStore);
    let refused = read(&[("cdn-cache-control", "no-store")]);
    assert!(!refused.storable(false));
    // the operator's field above both; Expires only under Cache-Control
    let ours = read(&[
        ("cdn-cache-control", "no-store"),
        ("hls-edge-cache-control", "max-age=5"),
        ("expires", "0"),
    ]);
    assert!(ours.storable(false));
    assert_eq!(ours.lifetime(), Some(s(5)));
}

#[test]
fn stale_if_error_is_the_origins_to_forbid() {
    assert_eq!(read(&[]).stale_if_error(), None);
    let must = read(&[("cache-control", "max-age=5, must-revalidate")]);
    assert_eq!(must.stale_if_error(), Some(s(0)));
    let given = read(&[("cache-control", "max-age=5, stale-if-error=30")]);
    assert_eq!(given.stale_if_error(), Some(s(30)));
}

#[test]
fn age_vary_and_cookies_are_read() {
    let d = read(&[
        ("age", "7"),
        ("vary", "Accept-Encoding, origin"),
        ("vary", "accept-encoding"),
        ("set-cookie", "a=1"),
    ]);
    assert_eq!(d.age, s(7));
    assert_eq!(
        d.vary,
        Vary::Fields(vec!["accept-encoding".into(), "origin".into()])
    );
    assert!(d.sets_cookie);
    assert_eq!(read(&[("vary", "*")]).vary, Vary::Any);
    assert_eq!(read(&[("age", "-3")]).age, s(0));
}

#[test]
fn players_are_told_nothing_more_permissive_than_the_origin_said() {
    assert_eq!(read(&[]).downstream(), Downstream::Default);
    let private = read(&[("cache-control", "private, max-age=9")]);
    assert_eq!(private.downstream(), Downstream::Private);
    let no_cache = read(&[("cache-control", "no-cache")]);
    assert_eq!(no_cache.downstream(), Downstream::NoCache);
    assert_eq!(
        read(&[("cache-control", "public, max-age=60")]).downstream(),
        Downstream::MaxAge(s(60))
    );
}

#[test]
fn a_304_refreshes_the_stored_fields_but_not_the_framing() {
    let stored = resp(&[
        ("content-length", "1000"),
        ("etag", "\"v1\""),
        ("x-policy", "original"),
        ("cache-control", "max-age=1"),
    ]);
    let mut not_modified = ResponseHeader::build(304, None).expect("status");
    for (k, v) in [
        ("x-policy", "updated"),
        ("cache-control", "max-age=9"),
        ("content-length", "0"),
        ("age", "3"),
        ("connection", "close"),
    ] {
        not_modified.append_header(k, v).expect("header");
    }
    let merged = freshened(&stored, &not_modified);
    let h = |name| merged.headers.get(name).and_then(|v| v.to_str().ok());
    assert_eq!(merged.status.as_u16(), 200);
    assert_eq!(h("x-policy"), Some("updated"));
    assert_eq!(h("cache-control"), Some("max-age=9"));
    assert_eq!(
        h("content-length"),
        Some("1000"),
        "framing is the stored body's"
    );
    assert_eq!(h("etag"), Some("\"v1\""));
    assert_eq!(h("age"), None);
    assert_eq!(h("connection"), None);
}
