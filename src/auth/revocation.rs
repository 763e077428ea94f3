//! Revoked session ids (design section 4, issue 4 item 5): the admin API revokes an `id`,
//! and every token carrying it is refused at its next request until the revocation expires.
//! A revocation only needs to outlive the tokens it stops, so the caller passes the longest
//! token lifetime (the session TTL) as its `ttl`; expired entries are pruned on every insert,
//! and the count is capped at [`MAX_REVOCATIONS`] so the list cannot grow without bound.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use parking_lot::RwLock;

/// Most revocations held at once. At the cap, a new revocation is refused rather than an
/// older one dropped (dropping would silently re-admit a session); rotate the key instead.
pub const MAX_REVOCATIONS: usize = 100_000;

/// One revoked session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revocation {
    pub id: String,
    /// Unix seconds of the first revocation of this id still in force.
    pub revoked_at: u64,
    /// Unix seconds after which the revocation is forgotten.
    pub expires_at: u64,
}

/// The revocation list could not take one more id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RevocationError {
    #[error("revocation list is full ({0} unexpired entries)")]
    Full(usize),
    #[error("a revocation needs a non-empty session id")]
    EmptyId,
}

/// Revoked session ids with their expiry; shared by every route's verifier and the admin
/// API (`Arc<Revocations>`).
#[derive(Debug)]
pub struct Revocations {
    /// id -> (revoked_at, expires_at)
    entries: RwLock<HashMap<String, (u64, u64)>>,
    /// Mirrors `entries.len()` so the request path skips the lock while nothing is revoked.
    len: AtomicUsize,
    cap: usize,
}

impl Default for Revocations {
    fn default() -> Self {
        Revocations::new()
    }
}

impl Revocations {
    /// An empty list holding at most [`MAX_REVOCATIONS`].
    pub fn new() -> Revocations {
        Revocations::with_cap(MAX_REVOCATIONS)
    }

    /// An empty list holding at most `cap` unexpired revocations.
    pub fn with_cap(cap: usize) -> Revocations {
        Revocations {
            entries: RwLock::new(HashMap::new()),
            len: AtomicUsize::new(0),
            cap,
        }
    }

    /// Revokes `id` until `now + ttl`. Revoking an id again keeps the later expiry.
    pub fn revoke(&self, id: &str, now: u64, ttl: u64) -> Result<Revocation, RevocationError> {
        if id.is_empty() {
            return Err(RevocationError::EmptyId);
        }
        let expires_at = now.saturating_add(ttl);
        let mut entries = self.entries.write();
        entries.retain(|_, &mut (_, exp)| exp > now);
        let len = entries.len();
        let (revoked_at, expires_at) = match entries.get_mut(id) {
            Some((since, exp)) => {
                *exp = (*exp).max(expires_at);
                (*since, *exp)
            }
            None if len >= self.cap => {
                self.len.store(len, Ordering::Release);
                return Err(RevocationError::Full(len));
            }
            None => {
                entries.insert(id.to_owned(), (now, expires_at));
                (now, expires_at)
            }
        };
        self.len.store(entries.len(), Ordering::Release);
        Ok(Revocation {
            id: id.to_owned(),
            revoked_at,
            expires_at,
        })
    }

    /// Whether `id` is revoked at `now`.
    pub fn is_revoked(&self, id: &str, now: u64) -> bool {
        if self.len.load(Ordering::Acquire) == 0 {
            return false;
        }
        self.entries
            .read()
            .get(id)
            .is_some_and(|&(_, exp)| exp > now)
    }

    /// Lifts a revocation early; whether there was one.
    pub fn unrevoke(&self, id: &str) -> bool {
        let mut entries = self.entries.write();
        let removed = entries.remove(id).is_some();
        self.len.store(entries.len(), Ordering::Release);
        removed
    }

    /// The revocations in force at `now`, by id.
    pub fn list(&self, now: u64) -> Vec<Revocation> {
        let mut list: Vec<Revocation> = self
            .entries
            .read()
            .iter()
            .filter(|(_, (_, exp))| *exp > now)
            .map(|(id, &(revoked_at, expires_at))| Revocation {
                id: id.clone(),
                revoked_at,
                expires_at,
            })
            .collect();
        list.sort_by(|a, b| a.id.cmp(&b.id));
        list
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revoked_until_ttl_then_forgotten() {
        let r = Revocations::new();
        assert!(!r.is_revoked("s1", 100));
        let rev = r.revoke("s1", 100, 3600).unwrap();
        assert_eq!(rev.expires_at, 3700);
        assert!(r.is_revoked("s1", 100));
        assert!(r.is_revoked("s1", 3699));
        assert!(!r.is_revoked("s1", 3700));
        assert!(!r.is_revoked("s2", 100));
        assert_eq!(
            r.list(200),
            vec![Revocation {
                id: "s1".into(),
                revoked_at: 100,
                expires_at: 3700
            }]
        );
        assert_eq!(r.list(3700), vec![]);
    }

    #[test]
    fn revoking_again_keeps_the_later_expiry() {
        let r = Revocations::new();
        r.revoke("s1", 100, 1000).unwrap();
        let again = r.revoke("s1", 200, 10).unwrap();
        assert_eq!((again.revoked_at, again.expires_at), (100, 1100));
        assert_eq!(r.revoke("s1", 200, 5000).unwrap().expires_at, 5200);
        assert!(r.unrevoke("s1"));
        assert!(!r.is_revoked("s1", 300));
        assert_eq!(r.revoke("", 1, 1), Err(RevocationError::EmptyId));
    }

    #[test]
    fn bounded_and_pruned_on_insert() {
        let r = Revocations::with_cap(3);
        for (i, id) in ["a", "b", "c"].iter().enumerate() {
            r.revoke(id, 100, 10 + i as u64).unwrap();
        }
        assert_eq!(r.revoke("d", 105, 10), Err(RevocationError::Full(3)));
        assert!(r.is_revoked("a", 105));
        // at 110 "a" (revoked until 110) has expired: pruned, so "d" fits
        r.revoke("d", 110, 10).unwrap();
        assert_eq!(r.entries.read().len(), 3);
        let ids: Vec<String> = r.list(110).into_iter().map(|x| x.id).collect();
        assert_eq!(ids, ["b", "c", "d"]);
    }

    #[test]
    fn shared_between_threads() {
        let r = std::sync::Arc::new(Revocations::new());
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let r = r.clone();
                std::thread::spawn(move || {
                    for i in 0..100 {
                        r.revoke(&format!("{t}-{i}"), 0, 60).unwrap();
                    }
                })
            })
            .collect();
        handles.into_iter().for_each(|h| h.join().unwrap());
        assert_eq!(r.list(1).len(), 400);
        assert!(r.is_revoked("3-99", 59));
    }
}
