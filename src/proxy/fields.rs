//! Setting the fields of a response header on the hit path.
//!
//! Pingora's `ResponseHeader::insert_header` keeps the original case of each
//! name in a second map: it turns the name it is given into a title-cased
//! copy and parses that back into a `HeaderName` (two allocations for a name
//! outside `http`'s standard set), whether the header has such a map or not.
//! A header without one (every stored header, `cache::storage::stored_meta`,
//! so every hit) has no case to keep: its fields are edited in its `http` map
//! directly, which costs a hash and an insert. A header with a case map (an
//! origin's, on a miss) is edited through Pingora's methods, so that both
//! maps stay in step. Either way the player receives the same fields.

use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::response::Parts;
use http::StatusCode;
use pingora::http::ResponseHeader;
use pingora::{ErrorType, OrErr, Result};

/// The fields of one response header, open for editing (see [`edit`]).
pub struct Fields<'a>(Target<'a>);

enum Target<'a> {
    Map(&'a mut HeaderMap),
    Cased(&'a mut ResponseHeader),
}

impl Fields<'_> {
    /// Replaces every value of `name` with `value`.
    pub fn insert(&mut self, name: HeaderName, value: HeaderValue) -> Result<()> {
        match &mut self.0 {
            Target::Map(map) => map
                .try_insert(name, value)
                .map(drop)
                .or_err(ErrorType::InvalidHTTPHeader, "too many header fields"),
            Target::Cased(resp) => resp.insert_header(name, value),
        }
    }

    /// Adds `value` after any values `name` already has.
    pub fn append(&mut self, name: HeaderName, value: HeaderValue) -> Result<()> {
        match &mut self.0 {
            Target::Map(map) => map
                .try_append(name, value)
                .map(drop)
                .or_err(ErrorType::InvalidHTTPHeader, "too many header fields"),
            Target::Cased(resp) => resp.append_header(name, value).map(drop),
        }
    }

    /// Removes every value of `name`.
    pub fn remove(&mut self, name: &HeaderName) {
        match &mut self.0 {
            Target::Map(map) => drop(map.remove(name)),
            Target::Cased(resp) => drop(resp.remove_header(name)),
        }
    }
}

/// Runs `edit` on the fields of `resp`; status and reason phrase are kept.
pub fn edit<T>(
    resp: &mut ResponseHeader,
    edit: impl FnOnce(&mut Fields<'_>) -> Result<T>,
) -> Result<T> {
    if resp.has_case() {
        return edit(&mut Fields(Target::Cased(resp)));
    }
    // `From<Parts>` gives a header without a reason phrase: a custom one
    // (not the status's canonical text) is put back after
    let custom_reason = resp
        .get_reason_phrase()
        .filter(|phrase| Some(*phrase) != resp.status.canonical_reason())
        .map(str::to_owned);
    let mut parts: Parts = std::mem::replace(resp, placeholder()?).into();
    let edited = edit(&mut Fields(Target::Map(&mut parts.headers)));
    *resp = ResponseHeader::from(parts);
    if custom_reason.is_some() {
        resp.set_reason_phrase(custom_reason.as_deref())?;
    }
    edited
}

/// What `resp` holds while its parts are out: no fields, so no allocation.
fn placeholder() -> Result<ResponseHeader> {
    ResponseHeader::build_no_case(StatusCode::OK, Some(0))
}

/// The body length `resp` declares: its (first) `Content-Length`, if a number.
pub fn content_length(resp: &ResponseHeader) -> Option<usize> {
    let value = resp.headers.get(http::header::CONTENT_LENGTH)?;
    value.to_str().ok()?.parse().ok()
}

/// A header value from text the edge produced; an invalid one is an
/// error, never a panic. `Bytes` takes over a buffer of exactly the text's
/// length as it is; spare capacity costs it one more allocation, so the
/// values built per response reserve exactly what they write.
pub fn value(text: String) -> Result<HeaderValue> {
    HeaderValue::try_from(text).or_err(ErrorType::InvalidHTTPHeader, "invalid header value")
}

#[cfg(test)]
mod tests {
    use super::*;
    use pingora::Error;

    fn wire(resp: &ResponseHeader) -> String {
        let mut buf = Vec::new();
        resp.header_to_h1_wire(&mut buf);
        String::from_utf8(buf).unwrap()
    }

    #[test]
    fn a_header_without_case_is_edited_in_its_map() {
        let mut resp = ResponseHeader::build_no_case(200, None).unwrap();
        resp.insert_header("content-type", "video/mp2t").unwrap();
        edit(&mut resp, |f| {
            f.insert(
                HeaderName::from_static("cache-status"),
                HeaderValue::from_static("e; hit"),
            )?;
            f.append(http::header::VARY, HeaderValue::from_static("Origin"))?;
            f.append(
                http::header::VARY,
                HeaderValue::from_static("Accept-Encoding"),
            )?;
            f.remove(&http::header::CONTENT_TYPE);
            Ok(())
        })
        .unwrap();
        assert!(!resp.has_case());
        assert_eq!(resp.status, 200);
        assert_eq!(resp.headers["cache-status"], "e; hit");
        let vary: Vec<_> = resp.headers.get_all("vary").iter().collect();
        assert_eq!(vary, ["Origin", "Accept-Encoding"]);
        assert!(resp.headers.get("content-type").is_none());
        assert!(wire(&resp).contains("cache-status: e; hit\r\n"));
    }

    #[test]
    fn a_header_with_case_keeps_both_maps_in_step() {
        let mut resp = ResponseHeader::build(404, None).unwrap();
        resp.insert_header("X-Origin-Name", "a").unwrap();
        edit(&mut resp, |f| {
            f.insert(
                HeaderName::from_static("cache-status"),
                HeaderValue::from_static("e"),
            )?;
            f.remove(&HeaderName::from_static("x-origin-name"));
            Ok(())
        })
        .unwrap();
        assert!(resp.has_case());
        let wire = wire(&resp);
        assert!(wire.contains("cache-status: e\r\n"), "{wire}");
        assert!(
            !wire.to_ascii_lowercase().contains("x-origin-name"),
            "{wire}"
        );
        assert_eq!(resp.status, 404);
    }

    #[test]
    fn status_and_a_custom_reason_phrase_survive_an_edit() {
        let mut resp = ResponseHeader::build_no_case(299, None).unwrap();
        resp.set_reason_phrase(Some("Still Fine")).unwrap();
        edit(&mut resp, |f| {
            f.insert(http::header::AGE, HeaderValue::from(3u64))
        })
        .unwrap();
        assert_eq!(resp.status, 299);
        assert_eq!(resp.get_reason_phrase(), Some("Still Fine"));
        assert_eq!(resp.headers["age"], "3");

        let mut ok = ResponseHeader::build_no_case(200, None).unwrap();
        edit(&mut ok, |f| {
            f.insert(http::header::AGE, HeaderValue::from(1u64))
        })
        .unwrap();
        assert_eq!(ok.get_reason_phrase(), Some("OK"));
    }

    #[test]
    fn an_edit_that_fails_leaves_the_fields_it_made() {
        let mut resp = ResponseHeader::build_no_case(200, None).unwrap();
        let result: Result<()> = edit(&mut resp, |f| {
            f.insert(http::header::AGE, HeaderValue::from(1u64))?;
            Err(Error::explain(ErrorType::InternalError, "test"))
        });
        assert!(result.is_err());
        assert_eq!(resp.headers["age"], "1");
        assert_eq!(resp.status, 200);
    }
}
