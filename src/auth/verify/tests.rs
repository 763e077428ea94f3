//! Verifier tests: every refusal reason, tampering, ACL escapes, skew, rotation, escaping,
//! URL tokens and revocation.

use std::net::IpAddr;
use std::sync::Arc;

use super::*;
use crate::auth::placement::{self, Placement};
use crate::auth::{mint_acl_token, mint_url_token, Algorithm, Revocations, TokenFields};

const NOW: u64 = 1_700_000_000;
const KEY_A: &str = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";
const KEY_B: &str = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

fn key(hex: &str) -> TokenKey {
    TokenKey::from_hex(hex).unwrap()
}

fn verifier(cfg: TokenConfig) -> Verifier {
    Verifier::new(cfg, vec![key(KEY_A)]).unwrap()
}

fn fields(acl: &str) -> TokenFields {
    TokenFields {
        start: Some(NOW - 10),
        exp: NOW + 90,
        acl: vec![acl.into()],
        ..TokenFields::default()
    }
}

fn mint(cfg: &TokenConfig, f: TokenFields) -> String {
    mint_acl_token(&key(KEY_A), cfg, f).unwrap()
}

fn req(path: &str) -> Request<'_> {
    Request {
        path,
        client_ip: None,
        now: NOW,
    }
}

fn reason(r: Result<Verified, TokenError>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(e) => e.reason(),
    }
}

#[test]
fn accepts_a_good_token_and_reports_its_fields() {
    let cfg = TokenConfig::default();
    let f = TokenFields {
        id: Some("s1".into()),
        data: Some("d".into()),
        ..fields("/hls/demo/*")
    };
    let v = verifier(cfg.clone())
        .verify(&mint(&cfg, f), &req("/hls/demo/index.m3u8"))
        .unwrap();
    assert_eq!(
        (v.key_index, v.token.id.as_deref(), v.token.exp),
        (0, Some("s1"), NOW + 90)
    );
    assert_eq!(v.kind, TokenKind::Entry);
}

#[test]
fn every_refusal_reason() {
    let cfg = TokenConfig::default();
    let revocations = Arc::new(Revocations::new());
    let v = verifier(cfg.clone()).with_revocations(revocations.clone());
    let good = mint(&cfg, fields("/hls/demo/*"));
    let path = "/hls/demo/seg_1.ts";
    assert_eq!(reason(v.verify("", &req(path))), "missing");
    assert_eq!(reason(v.verify("exp=1~acl", &req(path))), "malformed");
    let other_key = mint_acl_token(&key(KEY_B), &cfg, fields("/hls/demo/*")).unwrap();
    assert_eq!(reason(v.verify(&other_key, &req(path))), "bad-hmac");
    let late = Request {
        now: NOW + 200,
        ..req(path)
    };
    assert_eq!(
        v.verify(&good, &late).unwrap_err(),
        TokenError::Expired {
            exp: NOW + 90,
            now: NOW + 200
        }
    );
    let future = mint(
        &cfg,
        TokenFields {
            start: Some(NOW + 60),
            ..fields("/hls/demo/*")
        },
    );
    assert_eq!(reason(v.verify(&future, &req(path))), "not-yet-valid");
    assert_eq!(reason(v.verify(&good, &req("/hls/other/seg_1.ts"))), "acl");
    let bound = mint(
        &cfg,
        TokenFields {
            ip: Some("192.0.2.1".into()),
            ..fields("/hls/demo/*")
        },
    );
    let from = |ip: &str| Request {
        client_ip: Some(ip.parse().unwrap()),
        ..req(path)
    };
    assert_eq!(reason(v.verify(&bound, &from("192.0.2.1"))), "ok");
    assert_eq!(reason(v.verify(&bound, &from("192.0.2.2"))), "ip");
    assert_eq!(reason(v.verify(&bound, &req(path))), "ip");
    let session = mint(
        &cfg,
        TokenFields {
            id: Some("s1".into()),
            ..fields("/hls/demo/*")
        },
    );
    assert_eq!(reason(v.verify(&session, &req(path))), "ok");
    revocations.revoke("s1", NOW, 3600).unwrap();
    assert_eq!(
        v.verify(&session, &req(path)).unwrap_err(),
        TokenError::Revoked { id: "s1".into() }
    );
    assert_eq!(
        reason(v.verify(
            &session,
            &Request {
                now: NOW + 3600,
                ..req(path)
            }
        )),
        "expired"
    );
    assert_eq!(reason(v.verify(&good, &req(path))), "ok");
}

#[test]
fn messages_never_contain_the_key() {
    let cfg = TokenConfig {
        salt: Some("s4lt".into()),
        ..TokenConfig::default()
    };
    let v = verifier(cfg.clone());
    let good = mint(&cfg, fields("/a/*"));
    let mut errors = vec![
        v.verify(&good, &req("/b/x")).unwrap_err(),
        v.verify("x", &req("/a/x")).unwrap_err(),
    ];
    errors.push(
        v.verify(&good.replace("/a/*", "/*"), &req("/a/x"))
            .unwrap_err(),
    );
    for e in errors {
        let text = format!("{e} {e:?} {v:?}");
        assert!(!text.contains(KEY_A) && !text.contains("s4lt"), "{text}");
    }
}

#[test]
fn tampering_with_any_field_breaks_the_hmac() {
    let cfg = TokenConfig::default();
    let v = verifier(cfg.clone());
    let f = TokenFields {
        ip: Some("192.0.2.1".into()),
        id: Some("s1".into()),
        data: Some("plan=free".into()),
        ..fields("/hls/demo/*")
    };
    let good = mint(&cfg, f);
    let r = Request {
        client_ip: Some("192.0.2.1".parse().unwrap()),
        ..req("/hls/other/x.ts")
    };
    let edits = [
        ("ip=192.0.2.1", "ip=192.0.2.9"),
        (&format!("st={}", NOW - 10), &format!("st={}", NOW - 1000)),
        (
            &format!("exp={}", NOW + 90),
            &format!("exp={}", NOW + 99999),
        ),
        ("acl=/hls/demo/*", "acl=/hls/*"),
        ("acl=/hls/demo/*", "acl=/hls/demo/*!/hls/other/*"),
        ("id=s1", "id=s2"),
        ("data=plan=free", "data=plan=gold"),
        ("ip=192.0.2.1~", ""),
        (&format!("st={}~", NOW - 10), ""),
        ("~data=plan=free", ""),
    ];
    for (from, to) in edits {
        let forged = good.replacen(from, to, 1);
        assert_ne!(forged, good);
        assert_eq!(reason(v.verify(&forged, &r)), "bad-hmac", "{forged}");
    }
    // a flipped hmac digit, a truncated hmac, an uppercase hmac (hex either case is fine)
    let (text, hmac) = good.rsplit_once("hmac=").unwrap();
    let flipped = format!(
        "{text}hmac={}{}",
        if hmac.starts_with('0') { '1' } else { '0' },
        &hmac[1..]
    );
    assert_eq!(
        reason(v.verify(&flipped, &req("/hls/demo/x.ts"))),
        "bad-hmac"
    );
    let short = format!("{text}hmac={}", &hmac[..62]);
    assert_eq!(reason(v.verify(&short, &req("/hls/demo/x.ts"))), "bad-hmac");
    let upper = format!("{text}hmac={}", hmac.to_uppercase());
    let ok = Request {
        client_ip: Some("192.0.2.1".parse().unwrap()),
        ..req("/hls/demo/x.ts")
    };
    assert_eq!(reason(v.verify(&upper, &ok)), "ok");
}

#[test]
fn stream_a_token_does_not_open_stream_b() {
    let cfg = TokenConfig::default();
    let v = verifier(cfg.clone());
    let a = mint(&cfg, fields("/hls/a/*"));
    assert_eq!(reason(v.verify(&a, &req("/hls/a/720p/seg_3.ts"))), "ok");
    for path in [
        "/hls/b/index.m3u8",
        "/hls/ab/index.m3u8",
        "/hls/index.m3u8",
        "/hls/a",
    ] {
        assert_eq!(reason(v.verify(&a, &req(path))), "acl", "{path}");
    }
    let two = mint(
        &cfg,
        TokenFields {
            acl: vec!["/hls/a/*".into(), "/hls/c/?.ts".into()],
            ..fields("")
        },
    );
    assert_eq!(reason(v.verify(&two, &req("/hls/c/1.ts"))), "ok");
    assert_eq!(reason(v.verify(&two, &req("/hls/c/12.ts"))), "acl");
}

#[test]
fn paths_escaping_the_acl_are_refused() {
    let cfg = TokenConfig::default();
    let v = verifier(cfg.clone());
    let a = mint(&cfg, fields("/hls/a/*"));
    for path in [
        "/hls/a/../b/x.ts",
        "/hls/a/%2e%2e/b/x.ts",
        "/hls/a/%2E%2e/b/x.ts",
        "/hls/a/..%2fb/x.ts",
        "/hls/a%2f..%2fb/x.ts",
        "/hls/a/..%5Cb/x.ts",
        "/hls/a/%252e%252e/b/x.ts",
        "/hls/a/./x.ts",
    ] {
        let err = v.verify(&a, &req(path)).unwrap_err();
        assert!(
            matches!(err, TokenError::Acl(AclRefusal::UnsafePath(_))),
            "{path}: {err}"
        );
    }
    // URL tokens get the same path check even though the path is signed
    let url = mint_url_token(
        &key(KEY_A),
        &cfg,
        "/hls/a/../b/x.ts",
        TokenFields {
            acl: vec![],
            ..fields("")
        },
    );
    assert_eq!(
        reason(v.verify(&url.unwrap(), &req("/hls/a/../b/x.ts"))),
        "acl"
    );
}

#[test]
fn skew_tolerance_on_st_and_exp() {
    let cfg = TokenConfig::default();
    let f = TokenFields {
        start: Some(NOW),
        exp: NOW + 60,
        ..fields("/*")
    };
    let t = mint(&cfg, f);
    let at = |v: &Verifier, now| reason(v.verify(&t, &Request { now, ..req("/x") }));
    let v = verifier(cfg.clone());
    assert_eq!(at(&v, NOW - 5), "ok");
    assert_eq!(at(&v, NOW - 6), "not-yet-valid");
    assert_eq!(at(&v, NOW + 65), "ok");
    assert_eq!(at(&v, NOW + 66), "expired");
    let strict = verifier(cfg).with_skew(0);
    assert_eq!(at(&strict, NOW - 1), "not-yet-valid");
    assert_eq!(at(&strict, NOW + 60), "ok");
    assert_eq!(at(&strict, NOW + 61), "expired");
}

#[test]
fn key_rotation_accepts_old_and_new_and_signs_with_the_first() {
    let cfg = TokenConfig::default();
    let v = Verifier::new(
        cfg.clone(),
        vec![key(KEY_B).with_label("new"), key(KEY_A).with_label("old")],
    )
    .unwrap();
    let old = mint(&cfg, fields("/*"));
    let new = mint_acl_token(&key(KEY_B), &cfg, fields("/*")).unwrap();
    assert_eq!(v.verify(&old, &req("/x")).unwrap().key_index, 1);
    assert_eq!(v.verify(&new, &req("/x")).unwrap().key_index, 0);
    assert_eq!(v.signing_key().label(), Some("new"));
    let retired = Verifier::new(cfg.clone(), vec![key(KEY_B)]).unwrap();
    assert_eq!(reason(retired.verify(&old, &req("/x"))), "bad-hmac");
    assert_eq!(Verifier::new(cfg, vec![]).unwrap_err(), KeyError::NoKeys);
}

#[test]
fn algorithm_must_be_the_configured_one() {
    let sha1 = TokenConfig {
        algorithm: Algorithm::Sha1,
        ..TokenConfig::default()
    };
    let md5 = TokenConfig {
        algorithm: Algorithm::Md5,
        ..TokenConfig::default()
    };
    let t1 = mint(&sha1, fields("/*"));
    let t5 = mint(&md5, fields("/*"));
    assert_eq!(reason(verifier(sha1.clone()).verify(&t1, &req("/x"))), "ok");
    assert_eq!(reason(verifier(md5.clone()).verify(&t5, &req("/x"))), "ok");
    let sha256 = verifier(TokenConfig::default());
    assert_eq!(reason(sha256.verify(&t1, &req("/x"))), "bad-hmac");
    assert_eq!(reason(sha256.verify(&t5, &req("/x"))), "bad-hmac");
}

#[test]
fn escape_early_on_and_off() {
    let f = TokenFields {
        ip: Some("2001:db8::1".into()),
        id: Some("user 7/web".into()),
        data: Some("a=b&c".into()),
        ..fields("/hls/*")
    };
    let ip: IpAddr = "2001:db8::1".parse().unwrap();
    let r = Request {
        client_ip: Some(ip),
        ..req("/hls/x.ts")
    };
    let early = TokenConfig {
        escape_early: true,
        ..TokenConfig::default()
    };
    let t = mint(&early, f.clone());
    assert!(
        t.contains("ip=2001%3adb8%3a%3a1~") && t.contains("~id=user+7%2fweb~data=a%3db%26c~"),
        "{t}"
    );
    let ok = verifier(early).verify(&t, &r).unwrap();
    assert_eq!(
        (ok.token.id.as_deref(), ok.token.data.as_deref()),
        (Some("user 7/web"), Some("a=b&c"))
    );
    let late = TokenConfig::default();
    let t = mint(&late, f);
    assert!(
        t.contains("ip=2001:db8::1~") && t.contains("~id=user 7/web~data=a=b&c~"),
        "{t}"
    );
    let ok = verifier(late).verify(&t, &r).unwrap();
    assert_eq!(ok.token.id.as_deref(), Some("user 7/web"));
}

#[test]
fn url_tokens_sign_the_path_and_the_salt() {
    for escape_early in [false, true] {
        let cfg = TokenConfig {
            escape_early,
            salt: Some("pepper".into()),
            ..TokenConfig::default()
        };
        let v = verifier(cfg.clone());
        let f = TokenFields {
            acl: vec![],
            id: Some("u".into()),
            ..fields("")
        };
        let t = mint_url_token(&key(KEY_A), &cfg, "/hls/demo/index.m3u8", f).unwrap();
        assert_eq!(reason(v.verify(&t, &req("/hls/demo/index.m3u8"))), "ok");
        assert_eq!(
            reason(v.verify(&t, &req("/hls/demo/other.m3u8"))),
            "bad-hmac"
        );
        let unsalted = verifier(TokenConfig { salt: None, ..cfg });
        assert_eq!(
            reason(unsalted.verify(&t, &req("/hls/demo/index.m3u8"))),
            "bad-hmac"
        );
    }
}

#[test]
fn placed_tokens_verify_in_every_form() {
    let early = TokenConfig {
        escape_early: true,
        ..TokenConfig::default()
    };
    let v = verifier(early.clone());
    let t = mint(
        &early,
        TokenFields {
            id: Some("a b/c".into()),
            ..fields("/hls/demo/*")
        },
    );
    let path = "/hls/demo/seg_1.ts";
    let raw = placement::from_query(&format!("x=1&hdnts={t}"), "hdnts").unwrap();
    assert_eq!(reason(v.verify_value(&raw, &req(path))), "ok");
    let encoded = placement::query_value(&t);
    let enc = placement::from_query(&format!("hdnts={encoded}"), "hdnts").unwrap();
    assert_eq!(reason(v.verify_value(&enc, &req(path))), "ok");
    let cookie = placement::from_cookie(&format!("hdnts={encoded}"), "hdnts").unwrap();
    assert_eq!(reason(v.verify_value(&cookie, &req(path))), "ok");
    let seg = placement::path_segment("hdnts", &t);
    let (found, rest) =
        placement::from_path(&format!("/hls/{seg}/demo/seg_1.ts"), "hdnts").unwrap();
    assert_eq!(found.placement(), Placement::PathSegment);
    assert_eq!(reason(v.verify_value(&found, &req(&rest))), "ok");
    // the most specific refusal wins; one after the hmac matched is final
    let forged = TokenValue::new(Placement::Query, &t.replace("exp=", "exp=9"));
    assert_eq!(reason(v.verify_value(&forged, &req(path))), "bad-hmac");
    assert_eq!(reason(v.verify_value(&raw, &req("/hls/x/seg_1.ts"))), "acl");
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn any_text_is_refused_without_panicking(text in "\\PC{0,300}", path in "\\PC{0,80}") {
            let v = verifier(TokenConfig::default());
            prop_assert!(v.verify(&text, &req(&path)).is_err());
            let value = TokenValue::new(Placement::PathSegment, &text);
            prop_assert!(v.verify_value(&value, &req(&path)).is_err());
        }

        #[test]
        fn minted_tokens_verify_for_any_id_and_data(
            id in "[^~]{1,40}",
            data in "[^~]{1,40}",
            escape_early in any::<bool>(),
        ) {
            let cfg = TokenConfig { escape_early, ..TokenConfig::default() };
            let (id_, data_) = (Some(id.clone()), Some(data.clone()));
            let f = TokenFields { id: id_, data: data_, ..fields("/hls/*") };
            let t = mint(&cfg, f);
            let v = verifier(cfg);
            let r = req("/hls/a.ts");
            let ok = v.verify(&t, &r).unwrap();
            prop_assert_eq!(ok.token.id, Some(id));
            prop_assert_eq!(ok.token.data, Some(data));
            // and from every placement, written as the playlist rewriter writes it
            let query = format!("x=1&hdnts={}", placement::query_value(&t));
            let q = placement::from_query(&query, "hdnts").unwrap();
            prop_assert!(v.verify_value(&q, &r).is_ok(), "query {}", query);
            let path = format!("/{}/hls/a.ts", placement::path_segment("hdnts", &t));
            let (p, rest) = placement::from_path(&path, "hdnts").unwrap();
            prop_assert!(v.verify_value(&p, &req(&rest)).is_ok(), "path {}", path);
        }

        #[test]
        fn glob_and_path_checks_never_panic(
            glob in "[a/*?%.é]{0,20}",
            path in "[a/*?%.é2fe]{0,40}",
        ) {
            let _ = crate::auth::acl::glob_match(glob.as_bytes(), path.as_bytes());
            let _ = crate::auth::acl::check_path(&path);
        }
    }
}
