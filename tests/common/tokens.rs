//! Entry tokens for the token routes of a test edge: minted with the crate's
//! own `mint_acl_token` under a fixed test key (`KEY`, handed to the edge as
//! `TEST_TOKEN_KEY`), and spoiled on purpose for refusals. Also the edge with
//! a public and a token route that the metrics tests drive.
//!
//! `KEY` and `TOKENS` are imported by path (`common::tokens::KEY`): other test
//! files keep constants of those names.

use std::time::{SystemTime, UNIX_EPOCH};

use hls_edge::auth::placement::query_value;
use hls_edge::auth::{mint_acl_token, mint_url_token, TokenConfig, TokenFields, TokenKey};

use super::{CountingOrigin, EdgeConfig, RouteConfig};

pub const KEY: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
pub const TOKENS: &str = "{keys: [{env: TEST_TOKEN_KEY}], session_ttl: 1h}";

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs()
}

/// An entry token for `acl` with session id `id`, valid for 10 minutes, as a
/// query value.
pub fn entry_token(acl: &str, id: &str) -> String {
    entry_token_for(acl, 600, id)
}

/// An entry token for `acl` with session id `id`, valid for `ttl` seconds, as
/// a query value (signed with `KEY`).
pub fn entry_token_for(acl: &str, ttl: u64, id: &str) -> String {
    let key = TokenKey::from_hex(KEY).expect("hex key");
    let fields = TokenFields {
        start: None,
        exp: unix_now() + ttl,
        acl: vec![acl.into()],
        id: Some(id.into()),
        data: None,
        ip: None,
    };
    let token = mint_acl_token(&key, &TokenConfig::default(), fields).expect("mints");
    query_value(&token).into_owned()
}

/// An entry token for `acl` bound to client address `ip` (`ip=`), valid for
/// 10 minutes, as a query value.
pub fn bound_entry_token(acl: &str, ip: &str, id: &str) -> String {
    let key = TokenKey::from_hex(KEY).expect("hex key");
    let fields = TokenFields {
        exp: unix_now() + 600,
        acl: vec![acl.into()],
        id: Some(id.into()),
        ip: Some(ip.into()),
        ..TokenFields::default()
    };
    let token = mint_acl_token(&key, &TokenConfig::default(), fields).expect("mints");
    query_value(&token).into_owned()
}

/// A URL token (EdgeAuth `generate_url_token`): `path` is signed, not sent;
/// valid for 10 minutes, as a query value.
pub fn url_token(path: &str, id: &str) -> String {
    let key = TokenKey::from_hex(KEY).expect("hex key");
    let fields = TokenFields {
        exp: unix_now() + 600,
        id: Some(id.into()),
        ..TokenFields::default()
    };
    let token = mint_url_token(&key, &TokenConfig::default(), path, fields).expect("mints");
    query_value(&token).into_owned()
}

/// The value of field `name` (`acl`, `exp`, `ip`, `hmac`...) of a token as
/// written (`exp=1~acl=/a/*~hmac=ff`), or URL-encoded as a whole.
pub fn token_field(token: &str, name: &str) -> Option<String> {
    let decoded = percent_decode(token);
    decoded
        .split('~')
        .filter_map(|f| f.split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The same token with the last hex digit of its HMAC changed.
pub fn with_bad_hmac(token: &str) -> String {
    assert!(token.contains("hmac="), "{token}");
    let mut bad = token.to_string();
    let last = bad.pop().expect("non-empty");
    bad.push(if last == '0' { '1' } else { '0' });
    bad
}

/// An edge with a public route `/hls/` (`r0`, group `g0`) and a token route
/// `/sec/` (`r1`, group `g1`), both on `origin`.
pub fn two_routes(origin: &CountingOrigin) -> EdgeConfig {
    EdgeConfig::new()
        .route("/hls/", origin.addr())
        .route_config(
            RouteConfig::new("/sec/")
                .origin(origin.addr())
                .option("tokens", TOKENS),
        )
        .env("TEST_TOKEN_KEY", KEY)
}
