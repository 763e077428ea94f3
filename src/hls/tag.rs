//! The lexical layer of a playlist (RFC 8216 §4.1, §4.2): splitting a tag line into its name
//! and value, and an attribute list into `NAME=value` pairs. The playlist parser and the URI
//! rewriter share it, so both agree on where a quoted-string starts and ends. What a tag or an
//! attribute means is not decided here.

use std::ops::Range;

/// The UTF-8 byte order mark some packagers put before `#EXTM3U`.
pub(crate) const BOM: &str = "\u{feff}";

/// Splits `#EXT-X-NAME:value` into `("EXT-X-NAME", Some("value"))`; `#EXT-X-ENDLIST` into
/// `("EXT-X-ENDLIST", None)`. `line` must start with `#`; the name has the `#` removed.
pub(crate) fn split(line: &str) -> (&str, Option<&str>) {
    let line = line.strip_prefix('#').unwrap_or(line);
    match line.split_once(':') {
        Some((name, value)) => (name, Some(value)),
        None => (line, None),
    }
}

/// One `NAME=VALUE` pair of an attribute list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attribute<'a> {
    pub name: &'a str,
    /// The value, without the quotes of a quoted-string.
    pub value: &'a str,
    /// Whether the value was a quoted-string (`NAME="..."`).
    pub quoted: bool,
    /// Byte range of `value` within the attribute list.
    pub span: Range<usize>,
}

/// The attributes of `list`, the text after `#EXT-X-TAG:`. An entry without `=` is skipped;
/// an unterminated quoted-string ends the list, since where it was meant to end is unknowable.
pub(crate) fn attributes(list: &str) -> Attributes<'_> {
    Attributes { list, pos: 0 }
}

/// Iterator returned by [`attributes`].
pub(crate) struct Attributes<'a> {
    list: &'a str,
    pos: usize,
}

impl<'a> Iterator for Attributes<'a> {
    type Item = Attribute<'a>;

    fn next(&mut self) -> Option<Attribute<'a>> {
        loop {
            let rest = self.list.get(self.pos..)?;
            // RFC 8216 §4.2 allows no whitespace, but some packagers write `, NAME=`.
            let start = self.pos + (rest.len() - rest.trim_start().len());
            let rest = &self.list[start..];
            if rest.is_empty() {
                self.pos = self.list.len();
                return None;
            }
            match rest.find([',', '=']) {
                Some(i) if rest.as_bytes()[i] == b'=' => return self.value(start, start + i),
                Some(i) => self.pos = start + i + 1,
                None => {
                    self.pos = self.list.len();
                    return None;
                }
            }
        }
    }
}

impl<'a> Attributes<'a> {
    /// Reads the value after the `=` at `eq` of the attribute whose name starts at `start`.
    fn value(&mut self, start: usize, eq: usize) -> Option<Attribute<'a>> {
        let list = self.list;
        let (span, quoted, end) = if list[eq + 1..].starts_with('"') {
            let Some(close) = list[eq + 2..].find('"') else {
                self.pos = list.len();
                return None;
            };
            (eq + 2..eq + 2 + close, true, eq + 3 + close)
        } else {
            let end = list[eq + 1..].find(',').map_or(list.len(), |i| eq + 1 + i);
            (eq + 1..end, false, end)
        };
        // Skip anything between a closing quote and the next separator.
        self.pos = list[end..].find(',').map_or(list.len(), |i| end + i + 1);
        Some(Attribute {
            name: list[start..eq].trim(),
            value: &list[span.clone()],
            quoted,
            span,
        })
    }
}

/// The value of attribute `name` in `list`, if present.
pub(crate) fn attribute<'a>(list: &'a str, name: &str) -> Option<&'a str> {
    attributes(list).find(|a| a.name == name).map(|a| a.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &str) -> Vec<(&str, &str, bool)> {
        attributes(list)
            .map(|a| (a.name, a.value, a.quoted))
            .collect()
    }

    #[test]
    fn splits_tag_lines() {
        assert_eq!(split("#EXT-X-VERSION:3"), ("EXT-X-VERSION", Some("3")));
        assert_eq!(split("#EXT-X-ENDLIST"), ("EXT-X-ENDLIST", None));
        assert_eq!(
            split("#EXT-X-MAP:URI=\"a:b\""),
            ("EXT-X-MAP", Some("URI=\"a:b\""))
        );
    }

    #[test]
    fn quoted_strings_keep_commas_and_equals() {
        assert_eq!(
            pairs(r#"BANDWIDTH=1280000,CODECS="avc1.4d401f,mp4a.40.2",VALUE="a=b",X=1"#),
            vec![
                ("BANDWIDTH", "1280000", false),
                ("CODECS", "avc1.4d401f,mp4a.40.2", true),
                ("VALUE", "a=b", true),
                ("X", "1", false),
            ]
        );
    }

    #[test]
    fn spans_point_at_the_value() {
        let list = r#"METHOD=AES-128,URI="k.key",IV=0x1"#;
        let uri = attributes(list).find(|a| a.name == "URI");
        assert_eq!(uri.map(|a| &list[a.span]), Some("k.key"));
    }

    #[test]
    fn tolerates_spaces_and_skips_malformed_entries() {
        assert_eq!(
            pairs("A=1, B=2,JUNK,C=3"),
            vec![("A", "1", false), ("B", "2", false), ("C", "3", false)]
        );
        assert_eq!(pairs(r#"A=1,URI="open"#), vec![("A", "1", false)]);
        assert_eq!(pairs(""), vec![]);
        assert_eq!(attribute("PART-TARGET=1.002", "PART-TARGET"), Some("1.002"));
    }
}
