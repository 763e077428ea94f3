//! Session tokens (design section 4): a short entry token, verified on a playlist request,
//! is exchanged for an edge-minted token with the same `id` (and `data`), its ACL narrowed to
//! the stream's directory, a lifetime of the session TTL and the entry token's address binding
//! (or, optionally, the client's address). Which ACL a playlist's children actually get, so
//! that a session never reaches more than its entry token's grant and the playlist's own
//! children, is [`super::scope`]'s rule; this module mints one session for a given ACL. A leaked entry URL dies with its entry token; a session can be revoked by id.
//!
//! Session tokens are EdgeAuth ACL tokens signed with the route's first key and the session
//! salt ([`TokenConfig::for_sessions`]), so the route's [`Verifier`] knows them from entry
//! tokens ([`Verified::kind`]) whatever name they arrive under. Minting from a session token
//! (to hand it on in a child playlist, or because a player presented it as an entry token)
//! re-signs it unchanged: a session is never extended or widened, so a leaked session URL
//! dies at the session's `exp` too.

use std::net::IpAddr;

use super::key::TokenKey;
use super::mint::{self, MintError, TokenFields};
use super::token::TokenConfig;
use super::verify::{TokenKind, Verified, Verifier};

/// What a session token is minted for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionSpec<'a> {
    /// The session's ACL, normally [`stream_acl`] of the playlist path: `/hls/demo/*`.
    pub acl: &'a str,
    /// Lifetime in seconds: `exp = now + ttl`.
    pub ttl: u64,
    /// Binds the token to this client address (`ip=`), if set.
    pub client_ip: Option<IpAddr>,
    /// Unix seconds.
    pub now: u64,
}

/// The ACL covering the directory of `playlist_path` and everything below it:
/// `/hls/demo/master.m3u8` gives `/hls/demo/*` (`*` also matches `/`, so renditions in
/// subdirectories are covered). Pass the path as sent, without the query or a token segment.
/// A `*` or `?` in a directory name stays a wildcard: an ACL cannot escape it.
pub fn stream_acl(playlist_path: &str) -> String {
    match playlist_path.rfind('/') {
        Some(i) => format!("{}*", &playlist_path[..=i]),
        None => "/*".to_string(),
    }
}

/// The session token for `verified`, a token the route's verifier accepted, signed with
/// `key` in the session domain. From an entry token: a new session as `spec` says. From a
/// session token: the same session (`exp`, `acl`, `ip` kept; `spec` ignored), re-signed with
/// `key`, so a rotated key takes over. Fails only if a value would not fit the token format
/// (a delimiter in the ACL or the id).
pub fn mint_session_token(
    key: &TokenKey,
    cfg: &TokenConfig,
    verified: &Verified,
    spec: &SessionSpec<'_>,
) -> Result<String, MintError> {
    let fields = match verified.kind {
        TokenKind::Entry => session_fields(verified, spec),
        TokenKind::Session => carried_fields(verified),
    };
    mint::mint_acl_token(key, &cfg.for_sessions(), fields)
}

impl Verifier {
    /// [`mint_session_token`] with this verifier's configuration and signing key.
    pub fn mint_session(
        &self,
        entry: &Verified,
        spec: &SessionSpec<'_>,
    ) -> Result<String, MintError> {
        mint_session_token(self.signing_key(), self.config(), entry, spec)
    }
}

fn session_fields(entry: &Verified, spec: &SessionSpec<'_>) -> TokenFields {
    TokenFields {
        start: None,
        exp: spec.now.saturating_add(spec.ttl),
        acl: vec![spec.acl.to_string()],
        id: entry.token.id.clone(),
        data: entry.token.data.clone(),
        // a binding the entry token had is never dropped
        ip: entry
            .token
            .ip
            .clone()
            .or_else(|| spec.client_ip.map(|ip| ip.to_canonical().to_string())),
    }
}

fn carried_fields(session: &Verified) -> TokenFields {
    let t = &session.token;
    TokenFields {
        start: t.start,
        exp: t.exp,
        acl: t.acl.clone().unwrap_or_default(),
        id: t.id.clone(),
        data: t.data.clone(),
        ip: t.ip.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{mint_acl_token, Request, TokenError};

    const NOW: u64 = 1_700_000_000;
    const CLIENT: &str = "192.0.2.7";

    fn verifier() -> Verifier {
        let key = TokenKey::from_hex("00112233445566778899aabbccddeeff").unwrap();
        Verifier::new(TokenConfig::default(), vec![key]).unwrap()
    }

    fn req<'a>(path: &'a str, ip: Option<&str>, now: u64) -> Request<'a> {
        let client_ip = ip.map(|ip| ip.parse().unwrap());
        Request {
            path,
            client_ip,
            now,
        }
    }

    fn entry(v: &Verifier) -> Verified {
        let fields = TokenFields {
            exp: NOW + 90,
            acl: vec!["/hls/*".into()],
            id: Some("viewer-42".into()),
            data: Some("plan=gold".into()),
            ..TokenFields::default()
        };
        let text = mint_acl_token(v.signing_key(), v.config(), fields).unwrap();
        v.verify(&text, &req("/hls/demo/master.m3u8", None, NOW))
            .unwrap()
    }

    fn spec<'a>(acl: &'a str, ttl: u64, ip: Option<&str>, now: u64) -> SessionSpec<'a> {
        let client_ip = ip.map(|ip| ip.parse().unwrap());
        SessionSpec {
            acl,
            ttl,
            client_ip,
            now,
        }
    }

    #[test]
    fn stream_acl_is_the_playlist_directory() {
        assert_eq!(stream_acl("/hls/demo/master.m3u8"), "/hls/demo/*");
        assert_eq!(stream_acl("/hls/demo/"), "/hls/demo/*");
        assert_eq!(stream_acl("/index.m3u8"), "/*");
    }

    #[test]
    fn session_token_keeps_the_id_and_narrows_acl_and_lifetime() {
        let v = verifier();
        let acl = stream_acl("/hls/demo/master.m3u8");
        let text = v
            .mint_session(&entry(&v), &spec(&acl, 3600, Some(CLIENT), NOW + 10))
            .unwrap();
        let want = "ip=192.0.2.7~exp=1700003610~acl=/hls/demo/*~id=viewer-42~data=plan=gold~hmac=";
        assert!(text.starts_with(want), "{text}");

        let at = |path, ip, now| v.verify(&text, &req(path, ip, now));
        let s = at("/hls/demo/720p/seg_9.ts", Some(CLIENT), NOW + 3000).unwrap();
        assert_eq!(s.token.id.as_deref(), Some("viewer-42"));
        assert_eq!(s.kind, TokenKind::Session);
        // long after the entry token died
        assert!(at("/hls/demo/720p/index.m3u8", Some(CLIENT), NOW + 3600).is_ok());
        let other = at("/hls/other/seg_1.ts", Some(CLIENT), NOW + 60);
        assert_eq!(other.unwrap_err().reason(), "acl");
        let elsewhere = at("/hls/demo/seg_1.ts", Some("198.51.100.1"), NOW + 60);
        assert_eq!(elsewhere, Err(TokenError::Ip));
        let late = at("/hls/demo/seg_1.ts", Some(CLIENT), NOW + 3620);
        assert_eq!(late.unwrap_err().reason(), "expired");
    }

    #[test]
    fn session_and_entry_tokens_do_not_stand_in_for_each_other() {
        let v = verifier();
        let e = entry(&v);
        let session = v
            .mint_session(&e, &spec("/hls/demo/*", 3600, None, NOW))
            .unwrap();
        let r = req("/hls/demo/master.m3u8", None, NOW + 100);
        // a session token is known as one, even where an entry token is expected
        let as_entry = v.verify_as(TokenKind::Entry, &session, &r);
        assert_eq!(as_entry, Err(TokenError::BadHmac));
        let s = v.verify(&session, &r).unwrap();
        assert_eq!(s.kind, TokenKind::Session);
        let entry_text = mint_acl_token(
            v.signing_key(),
            v.config(),
            TokenFields {
                exp: NOW + 90,
                acl: vec!["/hls/*".into()],
                ..TokenFields::default()
            },
        );
        let as_session = v.verify_as(
            TokenKind::Session,
            &entry_text.unwrap(),
            &req("/hls/x", None, NOW),
        );
        assert_eq!(as_session, Err(TokenError::BadHmac));

        // so minting from it carries it unchanged: never extended, never widened
        let later = spec("/hls/*", 99_999, None, NOW + 3000);
        let carried = v.mint_session(&s, &later).unwrap();
        assert_eq!(carried, session);
        let rotated = Verifier::new(
            v.config().clone(),
            vec![TokenKey::from_hex("abcd").unwrap(), v.signing_key().clone()],
        )
        .unwrap();
        let resigned = rotated.mint_session(&s, &later).unwrap();
        assert_ne!(resigned, session);
        let again = rotated.verify(&resigned, &r).unwrap();
        assert_eq!((again.key_index, again.token.exp), (0, NOW + 3600));
        assert_eq!(again.token.acl, Some(vec!["/hls/demo/*".to_string()]));
    }

    #[test]
    fn unbound_session_and_ipv4_mapped_clients() {
        let v = verifier();
        let e = entry(&v);
        let mapped = spec("/hls/demo/*", 60, Some("::ffff:192.0.2.7"), NOW);
        let text = v.mint_session(&e, &mapped).unwrap();
        assert!(text.starts_with("ip=192.0.2.7~"), "{text}");
        let r = req("/hls/demo/a.ts", Some(CLIENT), NOW);
        assert!(v.verify(&text, &r).is_ok());
        let text = v
            .mint_session(&e, &spec("/hls/demo/*", 60, None, NOW))
            .unwrap();
        assert!(text.starts_with("exp="));
        assert!(v.verify(&text, &req("/hls/demo/a.ts", None, NOW)).is_ok());
    }

    #[test]
    fn acl_with_a_delimiter_is_refused() {
        let v = verifier();
        let bad = spec("/hls/a!b/*", 60, None, NOW);
        assert!(v.mint_session(&entry(&v), &bad).is_err());
    }
}
