//! How strong a secret must be before the edge uses it: token keys, the
//! peer secret shared by a deployment's edges and the admin API's bearer
//! token. A secret an attacker can guess signs tokens and opens sessions as
//! well as the operator's own backend, so a weak one is refused at start (and
//! by `hls-edge -t`), named by its key path, never echoed.
//!
//! The rule is deliberately simple, and met at once by what the docs tell an
//! operator to run (`openssl rand -hex 32`): at least [`MIN_SECRET_BYTES`]
//! bytes (128 bits, the floor RFC 2104 section 3 sets for an HMAC key of a
//! 128-bit-or-wider hash), not one byte repeated (an all-zero key), and at
//! least [`MIN_DISTINCT_BYTES`] distinct byte values (a short pattern
//! repeated); 16 random bytes have about 15.3 distinct values on average.

/// The shortest secret accepted, in bytes (key bytes after hex decoding).
pub const MIN_SECRET_BYTES: usize = 16;
/// The fewest distinct byte values a secret may have.
pub const MIN_DISTINCT_BYTES: usize = 8;

/// Why a secret is too weak; never holds the secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WeakSecret {
    #[error("is {len} bytes long; at least {MIN_SECRET_BYTES} bytes are needed")]
    TooShort { len: usize },
    #[error("is one repeated byte")]
    Repeated,
    #[error("has {distinct} distinct byte values; at least {MIN_DISTINCT_BYTES} distinct values are needed")]
    FewDistinct { distinct: usize },
}

/// Checks `secret` (raw bytes: a decoded key, or a secret's text).
pub fn check(secret: &[u8]) -> Result<(), WeakSecret> {
    if secret.len() < MIN_SECRET_BYTES {
        return Err(WeakSecret::TooShort { len: secret.len() });
    }
    let mut seen = [false; 256];
    for &b in secret {
        seen[usize::from(b)] = true;
    }
    let distinct = seen.iter().filter(|&&s| s).count();
    match distinct {
        1 => Err(WeakSecret::Repeated),
        d if d < MIN_DISTINCT_BYTES => Err(WeakSecret::FewDistinct { distinct: d }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_repeated_and_patterned_secrets_are_weak() {
        assert_eq!(check(&[0]), Err(WeakSecret::TooShort { len: 1 }));
        assert_eq!(check(&[0; 32]), Err(WeakSecret::Repeated));
        assert_eq!(check(&[0xab; 16]), Err(WeakSecret::Repeated));
        let pattern: Vec<u8> = [1u8, 2].repeat(16);
        assert_eq!(
            check(&pattern),
            Err(WeakSecret::FewDistinct { distinct: 2 })
        );
        assert_eq!(
            check(b"aaaaaaaaaaaaaaaaaaaaaaaa"),
            Err(WeakSecret::Repeated)
        );
    }

    #[test]
    fn random_looking_secrets_pass() {
        let key = hex::decode("8f3a91c4d2e7b6054a1f9c3e7d2b8a6f").unwrap();
        assert_eq!(check(&key), Ok(()));
        let sequential: Vec<u8> = (0u8..16).collect();
        assert_eq!(check(&sequential), Ok(()));
        assert_eq!(check(b"tiers-share-this-secret-0123456789"), Ok(()));
        let e = check(b"short").unwrap_err().to_string();
        assert!(!e.contains("short"), "{e}");
    }
}
