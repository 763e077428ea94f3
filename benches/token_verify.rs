//! Cost of verifying one playback token (target: well under 2 µs), which every `/hls/`
//! request pays, and of minting one session token, which every rewritten playlist pays.
//!
//! How to run (registered with `harness = false`):
//!   cargo bench --bench token_verify
//! Prints the median ns per operation of several runs, each a tight loop over one token.
//! Session tokens (every segment request) take one HMAC; an entry token given to `verify`
//! takes two, since the session domain is tried first (`verify_as` takes one).

#[path = "common/timing.rs"]
mod timing;

use std::hint::black_box;

use hls_edge::auth::{
    mint_acl_token, placement, stream_acl, Request, SessionSpec, TokenConfig, TokenFields,
    TokenKey, TokenKind, Verifier,
};

const RUNS: usize = 9;
const ITERS: u32 = 100_000;
const NOW: u64 = 1_700_000_000;
const KEY: &str = "52a152a1c0ffee00aa55aa55deadbeef0123456789abcdef0123456789abcdef";
const OLD_KEY: &str = "00112233445566778899aabbccddeeff";

fn main() {
    let cfg = TokenConfig::default();
    let key = TokenKey::from_hex(KEY).expect("bench key is hex");
    let v = Verifier::new(cfg.clone(), vec![key.clone()]).expect("one key");
    let fields = TokenFields {
        start: Some(NOW),
        exp: NOW + 90,
        acl: vec!["/hls/demo/*".into()],
        id: Some("viewer-0042".into()),
        ..TokenFields::default()
    };
    let entry = mint_acl_token(&key, &cfg, fields.clone()).expect("valid fields");
    let req = Request {
        path: "/hls/demo/720p/seg_01234.ts",
        client_ip: None,
        now: NOW + 10,
    };
    let verified = v.verify(&entry, &req).expect("the bench token verifies");
    let acl = stream_acl("/hls/demo/master.m3u8");
    let spec = SessionSpec {
        acl: &acl,
        ttl: 3600,
        client_ip: None,
        now: NOW,
    };
    let session = v.mint_session(&verified, &spec).expect("valid session");
    println!("session token ({} bytes): {session}", session.len());

    report("verify session token", || {
        v.verify(black_box(&session), &req).is_ok()
    });
    let query = format!("_HLS_msn=10&hdntl={session}");
    report("find session token in query + verify", || {
        placement::from_query(black_box(&query), "hdntl")
            .is_some_and(|t| v.verify_value(&t, &req).is_ok())
    });
    let old = TokenKey::from_hex(OLD_KEY).expect("bench key is hex");
    let rotating = Verifier::new(cfg.clone(), vec![old, key.clone()]).expect("two keys");
    report("verify session token, second of two keys", || {
        rotating.verify(black_box(&session), &req).is_ok()
    });
    report("verify entry token (either kind)", || {
        v.verify(black_box(&entry), &req).is_ok()
    });
    report("verify entry token (verify_as Entry)", || {
        v.verify_as(TokenKind::Entry, black_box(&entry), &req)
            .is_ok()
    });

    let early = TokenConfig {
        escape_early: true,
        ..cfg.clone()
    };
    let ev = Verifier::new(early.clone(), vec![key.clone()]).expect("one key");
    let ip = "2001:db8::7";
    let bound = TokenFields {
        ip: Some(ip.into()),
        ..fields
    };
    let etoken = mint_acl_token(&key, &early, bound).expect("valid fields");
    let ereq = Request {
        client_ip: ip.parse().ok(),
        ..req
    };
    report("verify entry (escape_early, ip, as Entry)", || {
        ev.verify_as(TokenKind::Entry, black_box(&etoken), &ereq)
            .is_ok()
    });
    report("mint a session token", || {
        v.mint_session(black_box(&verified), &spec).is_ok()
    });
}

/// Runs `op` `ITERS` times per run, `RUNS` runs; prints the median and best ns per call.
fn report(name: &str, op: impl FnMut() -> bool) {
    timing::report(name, RUNS, ITERS, op);
}
