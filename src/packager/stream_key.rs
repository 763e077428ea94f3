//! Push ingest authentication: a stream key per stream, configured only as
//! its SHA-256, presented by the client as `?key=...` or
//! `Authorization: Bearer ...`.
//!
//! The presented key is hashed and the two hashes compared in constant time
//! (`subtle`), so neither the key nor its hash leaks through timing. No I/O.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The key a client presented: the `key` query parameter wins over the
/// `Authorization: Bearer` header.
pub fn presented<'a>(query: Option<&'a str>, authorization: Option<&'a [u8]>) -> Option<String> {
    let from_query = query.and_then(|q| {
        url::form_urlencoded::parse(q.as_bytes())
            .find(|(k, _)| k == "key")
            .map(|(_, v)| v.into_owned())
    });
    from_query.or_else(|| {
        let value = std::str::from_utf8(authorization?).ok()?.trim();
        let (scheme, token) = value.split_once(' ')?;
        scheme
            .eq_ignore_ascii_case("bearer")
            .then(|| token.trim().to_string())
    })
}

/// Whether `key` hashes to `expected_sha256`.
pub fn verify(key: &str, expected_sha256: &[u8; 32]) -> bool {
    let digest = Sha256::digest(key.as_bytes());
    digest.as_slice().ct_eq(expected_sha256.as_slice()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `printf %s test | sha256sum`
    const TEST_SHA256: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

    fn expected() -> [u8; 32] {
        let mut out = [0; 32];
        hex::decode_to_slice(TEST_SHA256, &mut out).unwrap();
        out
    }

    #[test]
    fn verifies_the_hash() {
        assert!(verify("test", &expected()));
        assert!(!verify("test ", &expected()));
        assert!(!verify("", &expected()));
    }

    #[test]
    fn key_from_query_or_bearer() {
        assert_eq!(
            presented(Some("a=1&key=te%73t"), None).as_deref(),
            Some("test")
        );
        assert_eq!(
            presented(None, Some(b"Bearer test")).as_deref(),
            Some("test")
        );
        assert_eq!(
            presented(None, Some(b"bearer  test ")).as_deref(),
            Some("test")
        );
        assert_eq!(
            presented(Some("key=q"), Some(b"Bearer h")).as_deref(),
            Some("q")
        );
        assert_eq!(presented(None, Some(b"Basic dGVzdA==")), None);
        assert_eq!(presented(Some("k=1"), None), None);
    }
}
