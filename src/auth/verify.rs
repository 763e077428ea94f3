//! Verifying a token against a request: [`Verifier`] holds a route's keys (several, tried in
//! turn, so a key can be rolled with no failed request), its [`TokenConfig`], the clock skew
//! tolerance and, optionally, the shared revocation list.
//!
//! Entry tokens (signed by the operator's backend) and session tokens (minted by the edge,
//! [`super::session`]) are signed in different domains: a session token is an EdgeAuth
//! token whose salt has [`super::SESSION_SALT`] appended. [`Verified::kind`] says which
//! domain a token came from, so a session token presented as an entry token is still known
//! as one: minting a session from it carries it unchanged, it is never extended. The
//! `*_as` methods accept one kind only.
//!
//! Checks run in this order, so a forged token learns nothing but `bad-hmac`: shape
//! (`malformed`), HMAC (`bad-hmac`), `st`/`exp` (`not-yet-valid`, `expired`), revocation
//! (`revoked`), client address (`ip`), then the path (`acl`).

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use super::acl;
use super::key::{KeyError, Signer, TokenKey};
use super::mint::HashSource;
use super::placement::TokenValue;
use super::revocation::Revocations;
use super::token::{Token, TokenConfig};
use super::{AclRefusal, TokenError};

/// Session tokens first: they carry most requests (every segment of a playback).
const EITHER: &[TokenKind] = &[TokenKind::Session, TokenKind::Entry];

/// Default clock skew tolerance on `st` and `exp`, in seconds.
pub const DEFAULT_SKEW_SECS: u64 = 5;

/// What a token is checked against.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// The request path exactly as sent: percent-encoded, without the query string, and
    /// without the token's own path segment if it came in one (see
    /// [`super::placement::from_path`]). Matched against the ACL; signed for URL tokens.
    pub path: &'a str,
    /// The client address, if known; a token with `ip=` is refused without one.
    pub client_ip: Option<IpAddr>,
    /// Unix seconds.
    pub now: u64,
}

/// Who signed a token: the operator (entry) or the edge (session).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenKind {
    Entry,
    Session,
}

/// A token that passed every check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The token's fields.
    pub token: Token,
    /// Which key signed it (index into the keys the verifier was built with).
    pub key_index: usize,
    /// Which domain it was signed in.
    pub kind: TokenKind,
}

/// Verifies the tokens of one route.
#[derive(Clone)]
pub struct Verifier {
    cfg: TokenConfig,
    session_salt: String,
    keys: Vec<TokenKey>,
    signers: Vec<Signer>,
    skew: u64,
    revocations: Option<Arc<Revocations>>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("cfg", &self.cfg)
            .field("keys", &self.keys)
            .field("skew", &self.skew)
            .field("revocations", &self.revocations.is_some())
            .finish()
    }
}

impl Verifier {
    /// A verifier trying `keys` in order (put the current key first: it also signs session
    /// tokens). Refuses an empty key list.
    pub fn new(cfg: TokenConfig, keys: Vec<TokenKey>) -> Result<Verifier, KeyError> {
        if keys.is_empty() {
            return Err(KeyError::NoKeys);
        }
        let signers = keys.iter().map(|k| k.signer(cfg.algorithm)).collect();
        Ok(Verifier {
            session_salt: cfg.session_salt(),
            cfg,
            keys,
            signers,
            skew: DEFAULT_SKEW_SECS,
            revocations: None,
        })
    }

    /// Sets the clock skew tolerance (default [`DEFAULT_SKEW_SECS`]).
    pub fn with_skew(mut self, secs: u64) -> Verifier {
        self.skew = secs;
        self
    }

    /// Refuses tokens whose `id` is in `revocations` (default: none consulted).
    pub fn with_revocations(mut self, revocations: Arc<Revocations>) -> Verifier {
        self.revocations = Some(revocations);
        self
    }

    pub fn config(&self) -> &TokenConfig {
        &self.cfg
    }

    /// The key new tokens are signed with: the first one.
    pub fn signing_key(&self) -> &TokenKey {
        &self.keys[0]
    }

    /// The keys in the order they are tried.
    pub fn keys(&self) -> &[TokenKey] {
        &self.keys
    }

    /// Verifies the token text `text` for `req`: an entry or a session token,
    /// [`Verified::kind`] says which.
    pub fn verify(&self, text: &str, req: &Request<'_>) -> Result<Verified, TokenError> {
        self.verify_in(EITHER, text, req)
    }

    /// Verifies `text` for `req` as a token of `kind` only.
    pub fn verify_as(
        &self,
        kind: TokenKind,
        text: &str,
        req: &Request<'_>,
    ) -> Result<Verified, TokenError> {
        self.verify_in(std::slice::from_ref(&kind), text, req)
    }

    /// Verifies a token found by [`super::placement`] (entry or session), trying each
    /// reading of it (as sent, and URL-decoded) in the order [`TokenValue::candidates`]
    /// gives. A refusal that comes after the HMAC matched is final; otherwise the most
    /// specific refusal is returned.
    pub fn verify_value(
        &self,
        value: &TokenValue,
        req: &Request<'_>,
    ) -> Result<Verified, TokenError> {
        self.verify_value_in(EITHER, value, req)
    }

    /// [`Verifier::verify_value`] for a token of `kind` only.
    pub fn verify_value_as(
        &self,
        kind: TokenKind,
        value: &TokenValue,
        req: &Request<'_>,
    ) -> Result<Verified, TokenError> {
        self.verify_value_in(std::slice::from_ref(&kind), value, req)
    }

    fn verify_in(
        &self,
        kinds: &[TokenKind],
        text: &str,
        req: &Request<'_>,
    ) -> Result<Verified, TokenError> {
        let token = Token::parse(text, &self.cfg)?;
        let (key_index, kind) = self.check_hmac(&token, kinds, req.path)?;
        self.check_time(&token, req.now)?;
        self.check_revoked(&token, req.now)?;
        check_ip(&token, req.client_ip)?;
        check_path(&token, req.path)?;
        Ok(Verified {
            token,
            key_index,
            kind,
        })
    }

    fn verify_value_in(
        &self,
        kinds: &[TokenKind],
        value: &TokenValue,
        req: &Request<'_>,
    ) -> Result<Verified, TokenError> {
        let mut worst = TokenError::Missing;
        for text in value.candidates() {
            match self.verify_in(kinds, text, req) {
                Ok(v) => return Ok(v),
                Err(e @ (TokenError::Missing | TokenError::Malformed(_) | TokenError::BadHmac)) => {
                    if rank(&e) > rank(&worst) {
                        worst = e;
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Err(worst)
    }

    /// The key and the domain that signed `token`.
    fn check_hmac(
        &self,
        token: &Token,
        kinds: &[TokenKind],
        path: &str,
    ) -> Result<(usize, TokenKind), TokenError> {
        let mut buf = [0u8; 4];
        let delim: &str = self.cfg.field_delimiter.encode_utf8(&mut buf);
        let url = token.is_url_token().then(|| self.cfg.escape(path));
        for &kind in kinds {
            let salt = match kind {
                // the edge mints ACL session tokens only
                TokenKind::Session if token.is_url_token() => continue,
                TokenKind::Session => Some(self.session_salt.as_str()),
                TokenKind::Entry => self.cfg.salt.as_deref(),
            };
            let src = HashSource::new(token.signed_text(), delim, url.as_deref(), salt);
            // the order of the keys is no secret, so the first match ends the search; each
            // comparison is constant-time, which is what keeps the HMAC from being guessed
            let found = self
                .signers
                .iter()
                .position(|s| s.verify(src.parts(), token.hmac()));
            if let Some(index) = found {
                return Ok((index, kind));
            }
        }
        Err(TokenError::BadHmac)
    }

    fn check_time(&self, token: &Token, now: u64) -> Result<(), TokenError> {
        if let Some(start) = token.start {
            if now.saturating_add(self.skew) < start {
                return Err(TokenError::NotYetValid { start, now });
            }
        }
        // valid up to and including exp + skew
        if now > token.exp.saturating_add(self.skew) {
            return Err(TokenError::Expired {
                exp: token.exp,
                now,
            });
        }
        Ok(())
    }

    fn check_revoked(&self, token: &Token, now: u64) -> Result<(), TokenError> {
        match (&self.revocations, &token.id) {
            (Some(list), Some(id)) if list.is_revoked(id, now) => {
                Err(TokenError::Revoked { id: id.clone() })
            }
            _ => Ok(()),
        }
    }
}

fn check_ip(token: &Token, client: Option<IpAddr>) -> Result<(), TokenError> {
    let Some(bound) = &token.ip else {
        return Ok(());
    };
    let bound: IpAddr = bound.parse().map_err(|_| TokenError::Ip)?;
    match client {
        Some(client) if client.to_canonical() == bound.to_canonical() => Ok(()),
        _ => Err(TokenError::Ip),
    }
}

fn check_path(token: &Token, path: &str) -> Result<(), TokenError> {
    acl::check_path(path).map_err(TokenError::Acl)?;
    match &token.acl {
        Some(entries) if !acl::matches_any(entries, path) => {
            Err(TokenError::Acl(AclRefusal::NoMatch))
        }
        // a URL token's path was checked by the HMAC
        _ => Ok(()),
    }
}

fn rank(e: &TokenError) -> u8 {
    match e {
        TokenError::Missing => 0,
        TokenError::Malformed(_) => 1,
        _ => 2,
    }
}

#[cfg(test)]
mod tests;
