//! Push ingest authentication: a stream key per stream, configured only as
//! its SHA-256, presented by the client as `?key=...` or
//! `Authorization: Bearer ...`.
//!
//! The presented key is hashed and the two hashes compared in constant time
//! (`subtle`), so neither the key nor its hash leaks through timing; a key
//! shorter than [`MIN_KEY_LEN`] is refused even when its hash matches. No I/O.

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

/// The shortest key accepted at ingest. The config holds only the key's
/// hash, so `hls-edge -t` cannot see its length: a short key is refused
/// here, however its hash was configured.
pub const MIN_KEY_LEN: usize = 16;

/// Whether `key` is long enough and hashes to `expected_sha256`.
pub fn verify(key: &str, expected_sha256: &[u8; 32]) -> bool {
    let digest = Sha256::digest(key.as_bytes());
    let matches: bool = digest.as_slice().ct_eq(expected_sha256.as_slice()).into();
    matches && key.len() >= MIN_KEY_LEN
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
    fn verifies_the_hash_of_a_long_enough_key() {
        let long = "c0ffee-9b1d-4c2e-8f7a";
        let mut expected_long = [0; 32];
        expected_long.copy_from_slice(&Sha256::digest(long.as_bytes()));
        assert!(verify(long, &expected_long));
        assert!(!verify("c0ffee-9b1d-4c2e-8f7b", &expected_long));
        // the hash of "test" matches, but four bytes is no key
        assert!(!verify("test", &expected()));
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
