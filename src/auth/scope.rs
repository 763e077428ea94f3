//! What a session may reach (design section 4, docs/tokens.md): a session
//! token never grants more than the token that minted it did, beyond the
//! children of the playlist it was minted for.
//!
//! A playlist answered to a request with a verified token hands each child
//! URI (variant playlist, segment, part, key, map...) the session token that
//! covers it, chosen in this order:
//! 1. the presented token is itself a session token whose ACL covers the
//!    child: that session, carried unchanged (same `exp`, ACL, `ip`);
//! 2. the presented token is an entry token whose grant (its ACL globs, or
//!    for a URL token the one path it signs) contains the playlist's whole
//!    directory: a session for that directory, `dir/*` (the common case, one
//!    compact token for a whole stream);
//! 3. otherwise: a session for exactly that child's path, and nothing else.
//!
//! Every token of one grant has the same `id` and `data`, keeps an `ip=`
//! binding the presented token had (or binds the client when the route says
//! so), and expires with the session: `now + session_ttl` from an entry
//! token, the presented session's own `exp` from a session token. A child
//! path that cannot be written as an exact ACL (`*`, `!`, `~` in it) gets no
//! token at all rather than a wider one.

use std::net::IpAddr;

use super::acl::{glob_match, matches_any};
use super::key::TokenKey;
use super::mint::{self, TokenFields};
use super::session::stream_acl;
use super::token::TokenConfig;
use super::verify::{TokenKind, Verified, Verifier};

/// The terms of sessions minted from an entry token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionTerms {
    /// Lifetime in seconds: `exp = now + ttl`.
    pub ttl: u64,
    /// Binds new sessions to this client address (`ip=`), if set.
    pub client_ip: Option<IpAddr>,
    /// Unix seconds.
    pub now: u64,
}

/// The session tokens for the children of one playlist response.
#[derive(Debug)]
pub struct SessionGrant {
    key: TokenKey,
    cfg: TokenConfig,
    /// `exp`, `id`, `data`, `ip` of every token of this grant.
    base: TokenFields,
    /// A presented session's ACL and its text, re-signed with today's key.
    carried: Option<(Vec<String>, String)>,
    /// The stream directory's glob and its session token, when the entry
    /// token granted the whole directory.
    stream: Option<(String, String)>,
}

impl SessionGrant {
    /// The grant for the children of the playlist at `playlist_path` (the
    /// normalised request path, without a path-placed token), answered to a
    /// request whose token `presented` was verified by `verifier`.
    pub fn new(
        verifier: &Verifier,
        presented: &Verified,
        playlist_path: &str,
        terms: &SessionTerms,
    ) -> SessionGrant {
        let key = verifier.signing_key().clone();
        let cfg = verifier.config().for_sessions();
        let token = &presented.token;
        let mut grant = SessionGrant {
            base: TokenFields::default(),
            key,
            cfg,
            carried: None,
            stream: None,
        };
        match presented.kind {
            TokenKind::Session => {
                grant.base = TokenFields {
                    start: token.start,
                    exp: token.exp,
                    acl: Vec::new(),
                    id: token.id.clone(),
                    data: token.data.clone(),
                    ip: token.ip.clone(),
                };
                let acl = token.acl.clone().unwrap_or_default();
                grant.carried = grant.mint(acl.clone()).map(|text| (acl, text));
            }
            TokenKind::Entry => {
                grant.base = entry_fields(presented, terms);
                let entry_grant = match &token.acl {
                    Some(acl) => acl.clone(),
                    None => vec![playlist_path.to_string()],
                };
                let dir = stream_acl(playlist_path);
                if exact_literal(&dir[..dir.len() - 1]) && covers(&entry_grant, &dir) {
                    grant.stream = grant.mint(vec![dir.clone()]).map(|text| (dir, text));
                }
            }
        }
        grant
    }

    /// The session token that covers `child_path` (a normalised absolute
    /// path, no query), or `None` when no token may be given for it.
    pub fn token_for(&self, child_path: &str) -> Option<String> {
        if let Some((acl, text)) = &self.carried {
            if matches_any(acl, child_path) {
                return Some(text.clone());
            }
        }
        if let Some((glob, text)) = &self.stream {
            if glob_match(glob.as_bytes(), child_path.as_bytes()) {
                return Some(text.clone());
            }
        }
        exact_literal(child_path)
            .then(|| self.mint(vec![child_path.to_string()]))
            .flatten()
    }

    /// The directory glob this grant hands whole, if it does.
    pub fn stream_glob(&self) -> Option<&str> {
        self.stream.as_ref().map(|(glob, _)| glob.as_str())
    }

    fn mint(&self, acl: Vec<String>) -> Option<String> {
        let fields = TokenFields {
            acl,
            ..self.base.clone()
        };
        mint::mint_acl_token(&self.key, &self.cfg, fields).ok()
    }
}

/// A new session's fields from an entry token: its `id` and `data`, its
/// `ip=` binding if it had one (else the client's, when `terms` bind).
pub(crate) fn entry_fields(entry: &Verified, terms: &SessionTerms) -> TokenFields {
    let bound = terms.client_ip.map(|ip| ip.to_canonical().to_string());
    TokenFields {
        start: None,
        exp: terms.now.saturating_add(terms.ttl),
        acl: Vec::new(),
        id: entry.token.id.clone(),
        data: entry.token.data.clone(),
        ip: entry.token.ip.clone().or(bound),
    }
}

/// Whether `path` is one exact path as an ACL entry: no glob characters, no
/// ACL or field delimiter.
fn exact_literal(path: &str) -> bool {
    !path.contains(['*', '?', '!', '~'])
}

/// Whether every path `dir` (a literal followed by one `*`) matches is
/// matched by some entry of `grant`: an entry `P*` whose `P` matches a
/// prefix of the literal matches everything after it.
fn covers(grant: &[String], dir: &str) -> bool {
    let literal = &dir[..dir.len() - 1];
    grant.iter().any(|entry| {
        let Some(head) = entry.strip_suffix('*') else {
            return false;
        };
        literal
            .char_indices()
            .map(|(i, _)| i)
            .chain(std::iter::once(literal.len()))
            .any(|end| glob_match(head.as_bytes(), &literal.as_bytes()[..end]))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{mint_acl_token, mint_url_token, Request};

    const NOW: u64 = 1_700_000_000;

    fn verifier() -> Verifier {
        let key = TokenKey::from_hex("00112233445566778899aabbccddeeff").unwrap();
        Verifier::new(TokenConfig::default(), vec![key]).unwrap()
    }

    fn terms() -> SessionTerms {
        SessionTerms {
            ttl: 3600,
            client_ip: None,
            now: NOW,
        }
    }

    fn verified(v: &Verifier, text: &str, path: &str) -> Verified {
        let req = Request {
            path,
            client_ip: Some("192.0.2.7".parse().unwrap()),
            now: NOW,
        };
        v.verify(text, &req).unwrap()
    }

    fn entry(v: &Verifier, acl: &str, ip: Option<&str>, path: &str) -> Verified {
        let fields = TokenFields {
            exp: NOW + 90,
            acl: vec![acl.into()],
            id: Some("viewer-1".into()),
            ip: ip.map(str::to_string),
            ..TokenFields::default()
        };
        let text = mint_acl_token(v.signing_key(), v.config(), fields).unwrap();
        verified(v, &text, path)
    }

    fn acl_of(token: &str) -> String {
        let acl = token.split('~').find_map(|f| f.strip_prefix("acl="));
        acl.unwrap().to_string()
    }

    #[test]
    fn a_directory_grant_gives_the_stream_directory() {
        let v = verifier();
        for acl in ["/hls/a/*", "/hls/*", "/*", "*", "/hls/?/*", "/h*"] {
            let e = entry(&v, acl, None, "/hls/a/master.m3u8");
            let g = SessionGrant::new(&v, &e, "/hls/a/master.m3u8", &terms());
            assert_eq!(g.stream_glob(), Some("/hls/a/*"), "{acl}");
            let t = g.token_for("/hls/a/low/index.m3u8").unwrap();
            assert_eq!(acl_of(&t), "/hls/a/*");
            // a child elsewhere gets exactly itself
            let t = g.token_for("/hls/b/x.m3u8").unwrap();
            assert_eq!(acl_of(&t), "/hls/b/x.m3u8");
        }
    }

    #[test]
    fn a_narrow_grant_gives_exact_children_only() {
        let v = verifier();
        for acl in ["/hls/a/master.m3u8", "/hls/a/*.m3u8", "/hls/a/m*"] {
            let e = entry(&v, acl, None, "/hls/a/master.m3u8");
            let g = SessionGrant::new(&v, &e, "/hls/a/master.m3u8", &terms());
            assert_eq!(g.stream_glob(), None, "{acl}");
            let t = g.token_for("/hls/a/low/index.m3u8").unwrap();
            assert_eq!(acl_of(&t), "/hls/a/low/index.m3u8", "{acl}");
        }
        let url = mint_url_token(
            v.signing_key(),
            v.config(),
            "/hls/preview.m3u8",
            TokenFields {
                exp: NOW + 90,
                ..TokenFields::default()
            },
        )
        .unwrap();
        let e = verified(&v, &url, "/hls/preview.m3u8");
        let g = SessionGrant::new(&v, &e, "/hls/preview.m3u8", &terms());
        assert_eq!(g.stream_glob(), None);
        let t = g.token_for("/hls/a/low/index.m3u8").unwrap();
        assert_eq!(acl_of(&t), "/hls/a/low/index.m3u8");
        // and the token opens that child, nothing else
        let at = |path| verified_result(&v, &t, path);
        assert!(at("/hls/a/low/index.m3u8").is_ok());
        assert_eq!(at("/hls/b/low/index.m3u8").unwrap_err().reason(), "acl");
        assert_eq!(at("/hls/a/low/seg_1.ts").unwrap_err().reason(), "acl");
    }

    fn verified_result(
        v: &Verifier,
        text: &str,
        path: &str,
    ) -> Result<Verified, crate::auth::TokenError> {
        let req = Request {
            path,
            client_ip: None,
            now: NOW + 10,
        };
        v.verify(text, &req)
    }

    #[test]
    fn a_session_is_carried_where_it_covers_and_narrowed_where_not() {
        let v = verifier();
        let e = entry(&v, "/hls/a/master.m3u8", None, "/hls/a/master.m3u8");
        let first = SessionGrant::new(&v, &e, "/hls/a/master.m3u8", &terms());
        let low = first.token_for("/hls/a/low/index.m3u8").unwrap();
        let session = verified(&v, &low, "/hls/a/low/index.m3u8");
        assert_eq!(session.kind, TokenKind::Session);
        let later = SessionTerms {
            ttl: 99_999,
            now: NOW + 50,
            ..terms()
        };
        let second = SessionGrant::new(&v, &session, "/hls/a/low/index.m3u8", &later);
        // the playlist itself (a reload): the same session
        assert_eq!(second.token_for("/hls/a/low/index.m3u8"), Some(low.clone()));
        let seg = second.token_for("/hls/a/low/seg_1.ts").unwrap();
        assert_eq!(acl_of(&seg), "/hls/a/low/seg_1.ts");
        let seg = verified(&v, &seg, "/hls/a/low/seg_1.ts");
        assert_eq!(seg.token.exp, session.token.exp, "never extended");
        assert_eq!(seg.token.id.as_deref(), Some("viewer-1"));
    }

    #[test]
    fn bindings_are_kept_and_unwritable_children_get_nothing() {
        let v = verifier();
        let e = entry(&v, "/hls/a/*", Some("192.0.2.7"), "/hls/a/master.m3u8");
        let g = SessionGrant::new(&v, &e, "/hls/a/master.m3u8", &terms());
        let t = g.token_for("/hls/a/x.ts").unwrap();
        assert!(t.starts_with("ip=192.0.2.7~"), "{t}");
        let t = g.token_for("/hls/b/x.ts").unwrap();
        assert!(t.starts_with("ip=192.0.2.7~"), "{t}");
        assert_eq!(g.token_for("/hls/b/*.ts"), None);
        assert_eq!(g.token_for("/hls/b/a!b.ts"), None);
        // a directory with a glob character in its name is no directory grant
        let e = entry(&v, "/hls/*", None, "/hls/a*/master.m3u8");
        let g = SessionGrant::new(&v, &e, "/hls/a*/master.m3u8", &terms());
        assert_eq!(g.stream_glob(), None);
    }
}
