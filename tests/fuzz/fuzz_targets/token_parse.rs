//! Fuzz target `token_parse`: arbitrary bytes through the public `hls_edge::auth` API.
//!
//! Each input is read two ways.
//!
//! As text (lossy UTF-8), it is a token to parse and verify under two route configurations,
//! and a query string, a `Cookie` header and a path to find a token in. Parsing gives a token
//! whose signed text is a prefix of the input, or `Missing` (empty input) / `Malformed`;
//! verifying refuses for the very reason parsing did; `verify_value` answers what verifying
//! one of its candidates answers; the input written with `query_value` or `path_segment` is
//! found again as written.
//!
//! As structured data, it is the key, configuration, fields and request of a token to mint and
//! verify: see `token_parse/minted.rs`.
//!
//! How to run: `tests/fuzz/run.sh`, or see `tests/fuzz/README.md`.

#![no_main]

use std::sync::OnceLock;

use hls_edge::auth::placement::{from_cookie, from_path, from_query, path_segment, query_value};
use hls_edge::auth::token::MAX_TOKEN_LEN;
use hls_edge::auth::{
    Algorithm, Request, Token, TokenConfig, TokenError, TokenKey, TokenValue, Verifier,
};
use libfuzzer_sys::arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;

#[path = "token_parse/minted.rs"]
mod minted;

/// The key the seed tokens in `corpus/token_parse` are signed with.
const KEY: &str = "52a152a1c0ffee00aa55aa55deadbeef0123456789abcdef0123456789abcdef";
/// The salt of the second configuration (`escape_early`, SHA-1), as in the seeds.
const SALT: &str = "fuzz-salt";
/// The request the text is verified for; the seed tokens are valid for it.
const PATH: &str = "/hls/demo/720p/seg_1.ts";
const NOW: u64 = 1_700_000_000;
const NAME: &str = "hdnts";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    check_text(&text);
    check_placement(&text);
    // Running out of bytes midway just ends the case.
    let _ = minted::check(&mut Unstructured::new(data));
});

fn verifiers() -> &'static [Verifier; 2] {
    static VERIFIERS: OnceLock<[Verifier; 2]> = OnceLock::new();
    VERIFIERS.get_or_init(|| {
        let key = || vec![TokenKey::from_hex(KEY).expect("the fuzz key is hex")];
        let early = TokenConfig {
            algorithm: Algorithm::Sha1,
            escape_early: true,
            salt: Some(SALT.to_string()),
            ..TokenConfig::default()
        };
        [
            Verifier::new(TokenConfig::default(), key()).expect("one key"),
            Verifier::new(early, key()).expect("one key"),
        ]
    })
}

fn text_request() -> Request<'static> {
    Request {
        path: PATH,
        client_ip: None,
        now: NOW,
    }
}

fn check_text(text: &str) {
    let req = text_request();
    for verifier in verifiers() {
        let parsed = Token::parse(text, verifier.config());
        check_parsed(text, verifier.config(), &parsed);
        let verified = verifier.verify(text, &req);
        match (&parsed, &verified) {
            (Err(e), got) => assert_eq!(got.as_ref().err(), Some(e), "verify parses first"),
            (Ok(_), Err(e @ (TokenError::Missing | TokenError::Malformed(_)))) => {
                panic!("{text:?} parses but verify calls it {e:?}")
            }
            (Ok(token), Ok(v)) => assert_eq!(&v.token, token),
            (Ok(_), Err(_)) => {}
        }
    }
}

fn check_parsed(text: &str, cfg: &TokenConfig, parsed: &Result<Token, TokenError>) {
    match parsed {
        Err(TokenError::Missing) => assert!(text.is_empty()),
        Err(TokenError::Malformed(_)) => assert!(!text.is_empty()),
        Err(e) => panic!("parsing {text:?} refused it with {e:?}"),
        Ok(token) => {
            assert!(text.len() <= MAX_TOKEN_LEN);
            let signed = token.signed_text();
            assert!(!signed.is_empty() && text.starts_with(signed));
            let marker = format!("{}hmac=", cfg.field_delimiter);
            assert!(text[signed.len()..].starts_with(&marker));
            assert_eq!(token.is_url_token(), token.acl.is_none());
        }
    }
}

fn check_placement(text: &str) {
    let verifier = &verifiers()[0];
    let req = text_request();
    let in_path = from_path(text, NAME).map(|(value, rest)| {
        check_rest(text, &value, &rest);
        value
    });
    for value in [from_query(text, NAME), from_cookie(text, NAME), in_path]
        .iter()
        .flatten()
    {
        let candidates: Vec<&str> = value.candidates().collect();
        assert!(!value.sent().is_empty() && (1..=2).contains(&candidates.len()));
        let got = verifier.verify_value(value, &req);
        assert!(
            candidates.iter().any(|c| verifier.verify(c, &req) == got),
            "{value:?} gave {got:?}, which no candidate gives"
        );
    }
    if !text.is_empty() {
        check_written(text);
    }
}

/// `rest` is `path` without the segment `name=<sent>` and the `/` before it (none if it was
/// the first segment), or `/` if nothing is left.
fn check_rest(path: &str, value: &TokenValue, rest: &str) {
    let segment = format!("{NAME}={}", value.sent());
    let first = path.starts_with(&segment);
    assert!(first || path.contains(&format!("/{segment}")), "{path:?}");
    let removed = segment.len() + usize::from(!first);
    let left = path
        .len()
        .checked_sub(removed)
        .expect("the segment is in the path");
    assert!(
        rest.len() == left || (rest == "/" && left == 0),
        "from_path({path:?}) left {rest:?}"
    );
}

/// A token written into a query, a cookie or a path segment is found again, first, as written.
fn check_written(token: &str) {
    let q = query_value(token);
    let query = format!("_HLS_msn=1&{NAME}={q}&x=1");
    let cookie = format!("a=1; {NAME}={q}; b=2");
    let path = format!("/hls/{}/x.ts", path_segment(NAME, token));
    let found = [
        from_query(&query, NAME),
        from_cookie(&cookie, NAME),
        from_path(&path, NAME).map(|(value, rest)| {
            assert_eq!(rest, "/hls/x.ts", "{path:?}");
            value
        }),
    ];
    for value in found {
        let value = value.unwrap_or_else(|| panic!("{token:?} written is not found again"));
        assert_eq!(value.candidates().next(), Some(token), "{value:?}");
    }
}
