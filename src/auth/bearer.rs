//! A bearer credential (RFC 6750) for the admin API: `Authorization: Bearer
//! <token>`. Held as bytes, compared in constant time, shown nowhere (`Debug`
//! prints no part of it), and only accepted at start-up when strong enough
//! (`super::strength`).

use subtle::ConstantTimeEq;

/// The admin API's token.
#[derive(Clone)]
pub struct BearerToken {
    bytes: Vec<u8>,
}

impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BearerToken(..)")
    }
}

impl BearerToken {
    /// A token from its text (surrounding whitespace, such as a file's last
    /// newline, ignored), or why it is too weak.
    pub fn new(text: &str) -> Result<BearerToken, super::strength::WeakSecret> {
        let text = text.trim();
        super::strength::check(text.as_bytes())?;
        Ok(BearerToken {
            bytes: text.as_bytes().to_vec(),
        })
    }

    /// Whether an `Authorization` value presents this token: the `Bearer`
    /// scheme (any case, RFC 9110 11.1) and the token, compared in constant
    /// time.
    pub fn accepts(&self, authorization: Option<&[u8]>) -> bool {
        let Some(value) = authorization.and_then(|v| std::str::from_utf8(v).ok()) else {
            return false;
        };
        let Some((scheme, token)) = value.trim().split_once(' ') else {
            return false;
        };
        scheme.eq_ignore_ascii_case("bearer")
            && bool::from(token.trim().as_bytes().ct_eq(&self.bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_bearer_scheme_with_the_exact_token_is_accepted() {
        let t = BearerToken::new("a1b2c3d4e5f60718293a4b5c6d7e8f90\n").unwrap();
        assert!(t.accepts(Some(b"Bearer a1b2c3d4e5f60718293a4b5c6d7e8f90")));
        assert!(t.accepts(Some(b"bearer  a1b2c3d4e5f60718293a4b5c6d7e8f90 ")));
        for bad in [
            &b"Bearer a1b2c3d4e5f60718293a4b5c6d7e8f9"[..],
            b"Basic a1b2c3d4e5f60718293a4b5c6d7e8f90",
            b"a1b2c3d4e5f60718293a4b5c6d7e8f90",
            b"",
        ] {
            assert!(!t.accepts(Some(bad)), "{bad:?}");
        }
        assert!(!t.accepts(None));
        assert!(BearerToken::new("letmein").is_err());
        assert!(!format!("{t:?}").contains("a1b2"));
    }
}
