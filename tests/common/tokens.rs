//! Entry tokens for the token routes of a test edge: minted with the crate's
//! own `mint_acl_token` under a fixed test key (`KEY`, handed to the edge as
//! `TEST_TOKEN_KEY`), and spoiled on purpose for refusals. Also the edge with
//! a public and a token route that the metrics tests drive.
//!
//! `KEY` and `TOKENS` are imported by path (`common::tokens::KEY`): other test
//! files keep constants of those names.

use std::time::{SystemTime, UNIX_EPOCH};

use hls_edge::auth::placement::query_value;
use hls_edge::auth::{mint_acl_token, TokenConfig, TokenFields, TokenKey};

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
