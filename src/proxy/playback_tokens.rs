//! Playback tokens on the request path (design section 4): find the route's
//! token (path segment, query or cookie), verify it, and for playlists mint
//! the session token that the rewritten playlist hands to the player.
//!
//! Entry tokens arrive under the route's `name` (`hdnts`), session tokens
//! under its `session_name` (`hdntl`): a player that got a rewritten playlist
//! keeps presenting the session token, which outlives the short entry token
//! but not its own expiry, and is refused at once once its id is revoked.

use std::net::IpAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use pingora::proxy::Session;

use crate::auth::placement::{from_cookie, from_path, from_query, query_value};
use crate::auth::{stream_acl, SessionSpec, TokenError, TokenValue, Verified};
use crate::config::TokenSettings;
use crate::routing::RouteTokens;

/// Whether a request came with an entry or a session token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    Entry,
    Session,
}

/// A request's accepted token.
#[derive(Debug, Clone)]
pub struct Admitted {
    pub verified: Verified,
    pub kind: TokenKind,
}

impl Admitted {
    pub fn session_id(&self) -> Option<&str> {
        self.verified.token.id.as_deref()
    }
}

pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Finds and verifies the token of a request on a token route. A token sent as
/// a path segment is removed from the request URI, so that the cache key, the
/// ACL check and the origin all see the path without it.
pub fn admit(
    session: &mut Session,
    tokens: &RouteTokens,
    now: u64,
) -> Result<Admitted, TokenError> {
    let settings = &tokens.settings;
    let client_ip = client_ip(session);
    let (value, kind) = find(session, settings).ok_or(TokenError::Missing)?;
    let path = session.req_header().uri.path().to_string();
    let request = crate::auth::Request {
        path: &path,
        client_ip,
        now,
    };
    let verified = tokens.verifier.verify_value(&value, &request)?;
    Ok(Admitted { verified, kind })
}

fn find(session: &mut Session, s: &TokenSettings) -> Option<(TokenValue, TokenKind)> {
    let uri = session.req_header().uri.clone();
    for (name, kind) in [
        (&s.session_name, TokenKind::Session),
        (&s.name, TokenKind::Entry),
    ] {
        if let Some((value, rest)) = from_path(uri.path(), name) {
            let rebuilt = match uri.query() {
                Some(q) => format!("{rest}?{q}"),
                None => rest,
            };
            if let Ok(new_uri) = rebuilt.parse::<http::Uri>() {
                session.req_header_mut().set_uri(new_uri);
                return Some((value, kind));
            }
        }
    }
    let query = uri.query().unwrap_or("");
    if let Some(v) = from_query(query, &s.session_name) {
        return Some((v, TokenKind::Session));
    }
    if let Some(v) = from_query(query, &s.name) {
        return Some((v, TokenKind::Entry));
    }
    let cookies = session.req_header().headers.get_all(http::header::COOKIE);
    cookies
        .iter()
        .filter_map(|c| c.to_str().ok())
        .find_map(|c| {
            from_cookie(c, &s.name)
                .map(|v| (v, TokenKind::Entry))
                .or_else(|| from_cookie(c, &s.session_name).map(|v| (v, TokenKind::Session)))
        })
}

fn client_ip(session: &Session) -> Option<IpAddr> {
    session
        .client_addr()
        .and_then(|a| a.as_inet())
        .map(|a| a.ip())
}

/// The session token a playlist response hands out: minted from an entry
/// token (acl narrowed to the stream's directory, lifetime = session TTL,
/// optionally bound to the client), or the same session carried on unchanged.
pub fn session_token(
    session: &Session,
    tokens: &RouteTokens,
    admitted: &Admitted,
    now: u64,
) -> Option<String> {
    let settings = &tokens.settings;
    // an entry token gets a new session; a session token is carried over as
    // it is (same expiry, acl and id), signed again in the session domain
    let acl = stream_acl(session.req_header().uri.path());
    let client_ip = if settings.bind_ip {
        client_ip(session)
    } else {
        None
    };
    let spec = SessionSpec {
        acl: &acl,
        ttl: settings.session_ttl.as_secs(),
        client_ip,
        now,
    };
    let minted = tokens.verifier.mint_session(&admitted.verified, &spec);
    match minted {
        Ok(token) => Some(format!("{}={}", settings.session_name, query_value(&token))),
        Err(e) => {
            tracing::warn!(error = %e, "session token not minted; playlist served without it");
            None
        }
    }
}
