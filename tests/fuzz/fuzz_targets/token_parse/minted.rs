//! The `token_parse` input as structured data: the key, configuration, fields and request of a
//! token minted with `mint_acl_token`. The minted token verifies, and gives back its fields,
//! exactly when the request is inside its window, not revoked, from its address and covered by
//! its ACL; otherwise it is refused for the first of those reasons, in the order
//! `src/auth/verify.rs` documents. Changing one HMAC digit makes it `bad-hmac`, it is not a
//! session token, and the session token minted from it verifies as one and is carried on
//! unchanged when minted from again. The same fields as a URL token (`mint_url_token`) verify
//! for the path signed and no other. A refused mint names a real fault of its fields.

use std::net::IpAddr;
use std::sync::Arc;

use hls_edge::auth::placement::{from_query, query_value};
use hls_edge::auth::token::MAX_TOKEN_LEN;
use hls_edge::auth::{
    acl, mint_acl_token, mint_url_token, stream_acl, AclRefusal, Algorithm, MintError, Request,
    Revocations, SessionSpec, TokenConfig, TokenError, TokenFields, TokenKey, TokenKind, Verified,
    Verifier, DEFAULT_SKEW_SECS,
};
use libfuzzer_sys::arbitrary::{self, Unstructured};

use super::NAME;

/// A token to mint, who verifies it and the request it is verified for.
#[derive(Clone)]
struct Case {
    cfg: TokenConfig,
    key: TokenKey,
    /// The verifier's keys: `key`, maybe after an older one.
    keys: Vec<TokenKey>,
    fields: TokenFields,
    path: String,
    client_ip: Option<IpAddr>,
    revoke: bool,
}

fn case(u: &mut Unstructured) -> arbitrary::Result<Case> {
    let (field_delimiter, acl_delimiter) = *u.choose(&[('~', '!'), (',', ';'), ('¦', '§')])?;
    let cfg = TokenConfig {
        algorithm: *u.choose(&[Algorithm::Sha256, Algorithm::Sha1, Algorithm::Md5])?,
        escape_early: u.arbitrary()?,
        field_delimiter,
        acl_delimiter,
        salt: u.arbitrary()?,
    };
    let mut key_bytes: Vec<u8> = u.arbitrary()?;
    key_bytes.push(0x5a);
    let key = TokenKey::from_bytes(key_bytes).expect("not empty");
    let mut keys = vec![key.clone()];
    if u.arbitrary()? {
        keys.insert(
            0,
            TokenKey::from_hex("00112233445566778899aabbccddeeff").expect("hex"),
        );
    }
    let prefix = *u.choose(&["/hls/demo/", "/", ""])?;
    let path = format!("{prefix}{}", u.arbitrary::<&str>()?);
    let mut acl: Vec<String> = u.arbitrary()?;
    match u.int_in_range(0..=2)? {
        0 => acl.push(path.clone()),
        1 => acl.push(stream_acl(&path)),
        _ => {}
    }
    let ip = match u.int_in_range(0..=2)? {
        0 => None,
        1 => Some(u.arbitrary::<IpAddr>()?.to_string()),
        _ => Some(u.arbitrary()?),
    };
    // mostly the bound address, sometimes as an IPv4-mapped IPv6 one, sometimes another
    let client_ip = match ip.as_deref().map(str::parse::<IpAddr>) {
        Some(Ok(IpAddr::V4(v4))) if u.ratio(1, 4)? => Some(IpAddr::V6(v4.to_ipv6_mapped())),
        Some(Ok(bound)) if u.ratio(3, 4)? => Some(bound),
        _ => u.arbitrary()?,
    };
    let mut data: Option<String> = u.arbitrary()?;
    if u.ratio(1, 8)? {
        // past MAX_TOKEN_LEN, which inputs of libFuzzer's usual lengths never reach
        let long = data.get_or_insert_with(String::new);
        long.push_str(&"d".repeat(MAX_TOKEN_LEN));
    }
    let fields = TokenFields {
        start: u.arbitrary()?,
        exp: u.arbitrary()?,
        acl,
        id: u.arbitrary()?,
        data,
        ip,
    };
    Ok(Case {
        cfg,
        key,
        keys,
        fields,
        path,
        client_ip,
        revoke: u.arbitrary()?,
    })
}

/// Mints the token `u` describes and checks how it verifies.
pub fn check(u: &mut Unstructured) -> arbitrary::Result<()> {
    let case = case(u)?;
    check_url_token(&case);
    let token = match mint_acl_token(&case.key, &case.cfg, case.fields.clone()) {
        Ok(token) => token,
        Err(e) => {
            check_refusal(&case, &e);
            return Ok(());
        }
    };
    let revocations = Arc::new(Revocations::new());
    if let Some(id) = present(&case.fields.id).filter(|_| case.revoke) {
        revocations.revoke(id, 0, u64::MAX).expect("one id fits");
    }
    let verifier = Verifier::new(case.cfg.clone(), case.keys.clone())
        .expect("at least one key")
        .with_revocations(revocations.clone());
    let exp = case.fields.exp;
    let start = case.fields.start.filter(|&s| s > 0);
    let times = [
        Some(exp),
        exp.checked_add(DEFAULT_SKEW_SECS + 1),
        start.and_then(|s| s.checked_sub(DEFAULT_SKEW_SECS + 1)),
    ];
    for now in times.into_iter().flatten() {
        let req = Request {
            path: &case.path,
            client_ip: case.client_ip,
            now,
        };
        let got = verifier.verify(&token, &req);
        match (&got, expected(&case, &token, &revocations, now)) {
            (Ok(v), Ok(())) => check_fields(&case, v),
            (Err(got), Err(want)) => assert_eq!(got, &want, "{token:?} for {req:?}"),
            (got, want) => panic!("{token:?} for {req:?}: got {got:?}, want {want:?}"),
        }
        let query = format!("{NAME}={}", query_value(&token));
        let value = from_query(&query, NAME).expect("written, so found");
        assert_eq!(verifier.verify_value(&value, &req), got, "{query:?}");
        let as_entry = verifier.verify_value_as(TokenKind::Entry, &value, &req);
        assert_eq!(as_entry, verifier.verify_as(TokenKind::Entry, &token, &req));
        if now == exp {
            check_forgeries(&verifier, &token, &req);
            if let Ok(entry) = &got {
                check_session(&verifier, &case, entry, now);
            }
        }
    }
    Ok(())
}

/// What verifying `token` (minted from `case.fields`) at `now` should give, checks in the
/// order `verify.rs` documents: shape, HMAC (always right here), time, revocation, ip, path.
fn expected(
    case: &Case,
    token: &str,
    revocations: &Revocations,
    now: u64,
) -> Result<(), TokenError> {
    let f = &case.fields;
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::Malformed("token too long"));
    }
    if let Some(start) = f
        .start
        .filter(|&s| s > 0 && now.saturating_add(DEFAULT_SKEW_SECS) < s)
    {
        return Err(TokenError::NotYetValid { start, now });
    }
    if now > f.exp.saturating_add(DEFAULT_SKEW_SECS) {
        return Err(TokenError::Expired { exp: f.exp, now });
    }
    if let Some(id) = present(&f.id).filter(|id| revocations.is_revoked(id, now)) {
        return Err(TokenError::Revoked { id: id.to_string() });
    }
    if let Some(ip) = present(&f.ip) {
        let bound = ip.parse::<IpAddr>().map_err(|_| TokenError::Ip)?;
        if case.client_ip.map(|c| c.to_canonical()) != Some(bound.to_canonical()) {
            return Err(TokenError::Ip);
        }
    }
    acl::check_path(&case.path).map_err(TokenError::Acl)?;
    if !acl::matches_any(&f.acl, &case.path) {
        return Err(TokenError::Acl(AclRefusal::NoMatch));
    }
    Ok(())
}

/// A verified token gives back what it was minted from, and names the key that signed it.
fn check_fields(case: &Case, v: &Verified) {
    let (t, f) = (&v.token, &case.fields);
    assert_eq!(v.kind, TokenKind::Entry);
    assert_eq!(
        Some(v.key_index),
        case.keys.iter().position(|k| *k == case.key)
    );
    assert_eq!((t.start, t.exp), (f.start.filter(|&s| s > 0), f.exp));
    assert_eq!(t.acl.as_ref(), Some(&f.acl));
    assert_eq!(t.ip.as_deref(), present(&f.ip));
    assert_eq!(t.id.as_deref(), present(&f.id));
    assert_eq!(t.data.as_deref(), present(&f.data));
}

/// One changed HMAC digit is `bad-hmac`; an entry token is no session token.
fn check_forgeries(verifier: &Verifier, token: &str, req: &Request<'_>) {
    if token.len() > MAX_TOKEN_LEN {
        return;
    }
    let mut altered = token.to_string();
    let last = altered.pop().expect("a token ends with its hmac");
    altered.push(if last == '0' { '1' } else { '0' });
    assert_eq!(verifier.verify(&altered, req), Err(TokenError::BadHmac));
    assert_eq!(
        verifier.verify_as(TokenKind::Session, token, req),
        Err(TokenError::BadHmac)
    );
}

/// The session token minted from a verified entry token verifies, as a session token, for the
/// same request, and carries the entry's id; minted again from itself, it is the same text.
fn check_session(verifier: &Verifier, case: &Case, entry: &Verified, now: u64) {
    let acl = stream_acl(&case.path);
    let spec = SessionSpec {
        acl: &acl,
        ttl: 3600,
        client_ip: case.client_ip,
        now,
    };
    let session = match verifier.mint_session(entry, &spec) {
        Ok(session) => session,
        Err(MintError::Delimiter {
            field: "acl",
            delim,
        }) => {
            assert!(acl.contains(delim));
            return;
        }
        Err(e) => panic!("no session from {entry:?}: {e:?}"),
    };
    if session.len() > MAX_TOKEN_LEN {
        return;
    }
    let req = Request {
        path: &case.path,
        client_ip: case.client_ip,
        now,
    };
    let v = verifier
        .verify(&session, &req)
        .unwrap_or_else(|e| panic!("session {session:?} for {req:?}: {e:?}"));
    assert_eq!((v.kind, &v.token.id), (TokenKind::Session, &entry.token.id));
    let as_entry = verifier.verify_as(TokenKind::Entry, &session, &req);
    assert_eq!(as_entry, Err(TokenError::BadHmac));
    // a session is carried on unchanged, never extended
    let carried = verifier.mint_session(&v, &spec);
    assert_eq!(carried.as_deref(), Ok(session.as_str()));
}

/// The fields as a URL token for `case.path`: it verifies for that path (when the rest of the
/// request is right and the path is safe) and is `bad-hmac` for any other.
fn check_url_token(case: &Case) {
    let fields = TokenFields {
        acl: Vec::new(),
        ..case.fields.clone()
    };
    let token = match mint_url_token(&case.key, &case.cfg, &case.path, fields.clone()) {
        Ok(token) => token,
        Err(MintError::NoUrl) => return assert!(case.path.is_empty()),
        Err(e) => return check_refusal(case, &e),
    };
    let verifier = Verifier::new(case.cfg.clone(), case.keys.clone()).expect("keys");
    let now = case.fields.exp;
    let req = Request {
        path: &case.path,
        client_ip: case.client_ip,
        now,
    };
    // a path always matches itself as a glob, so this is the URL token's expectation
    let as_acl = Case {
        fields: TokenFields {
            acl: vec![case.path.clone()],
            ..fields
        },
        ..case.clone()
    };
    match (
        verifier.verify(&token, &req),
        expected(&as_acl, &token, &Revocations::new(), now),
    ) {
        (Ok(v), Ok(())) => assert!(v.token.is_url_token() && v.kind == TokenKind::Entry),
        (Err(got), Err(want)) => assert_eq!(got, want, "{token:?} for {req:?}"),
        (got, want) => panic!("{token:?} for {req:?}: got {got:?}, want {want:?}"),
    }
    if token.len() <= MAX_TOKEN_LEN {
        let other = format!("{}x", case.path);
        let req = Request {
            path: &other,
            ..req
        };
        assert_eq!(verifier.verify(&token, &req), Err(TokenError::BadHmac));
    }
}

/// A refused mint names a fault its fields really have.
fn check_refusal(case: &Case, e: &MintError) {
    let f = &case.fields;
    let value = |field: &str| match field {
        "ip" => f.ip.as_deref(),
        "id" => f.id.as_deref(),
        "data" => f.data.as_deref(),
        _ => None,
    };
    let real = match e {
        MintError::NoAcl => f.acl.iter().all(String::is_empty),
        MintError::NoExp => f.exp == 0,
        MintError::ExpNotAfterStart { start, exp } => f.start == Some(*start) && exp <= start,
        MintError::Delimiter {
            field: "acl",
            delim,
        } => f.acl.iter().any(|a| a.contains(*delim)),
        MintError::Delimiter { field, delim } => value(field).is_some_and(|v| v.contains(*delim)),
        MintError::AclOnUrlToken | MintError::NoUrl => false,
    };
    assert!(real, "mint refused {f:?} with {e:?}");
}

fn present(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|v| !v.is_empty())
}
