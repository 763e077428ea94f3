//! Rewriting every URI of a playlist while leaving every other byte as the origin wrote it:
//! the token rewriter adds session tokens with it. It knows where URIs are (RFC 8216 §4.1 URI
//! lines, and the `URI` attribute of the tags in [`URI_TAGS`]), not what to put there.

use std::borrow::Cow;

use super::tag;

/// Tags whose `URI="..."` attribute names a resource (RFC 8216 §4.3, rfc8216bis §4.4).
pub const URI_TAGS: &[&str] = &[
    "EXT-X-MAP",
    "EXT-X-KEY",
    "EXT-X-SESSION-KEY",
    "EXT-X-MEDIA",
    "EXT-X-I-FRAME-STREAM-INF",
    "EXT-X-PART",
    "EXT-X-PRELOAD-HINT",
    "EXT-X-RENDITION-REPORT",
    "EXT-X-SESSION-DATA",
];

/// Calls `f` with every URI of `body`, in order: each URI line (a non-blank line not
/// starting with `#`, without its surrounding whitespace) and the quoted `URI` attribute of
/// each tag in [`URI_TAGS`]. Where `f` returns `Some(new)`, `new` replaces the URI
/// verbatim (quoting it is the caller's job: it must not contain `"` or a line break);
/// `None` keeps it. Every other byte, line endings (LF or CRLF) and a BOM included, is
/// copied unchanged. Attributes merely ending in `URI` (`KEYFORMATURI`, `SERVER-URI`) and
/// tags not listed are left alone.
pub fn rewrite_uris(body: &str, mut f: impl FnMut(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(body.len() + body.len() / 4);
    let (bom, body) = match body.strip_prefix(tag::BOM) {
        Some(rest) => (tag::BOM, rest),
        None => ("", body),
    };
    out.push_str(bom);
    for line in body.split_inclusive('\n') {
        let content = line.trim_end_matches(['\r', '\n']);
        out.push_str(&rewrite_line(content, &mut f));
        out.push_str(&line[content.len()..]);
    }
    out
}

fn rewrite_line<'a>(line: &'a str, f: &mut impl FnMut(&str) -> Option<String>) -> Cow<'a, str> {
    let text = line.trim();
    let start = line.len() - line.trim_start().len();
    let end = start + text.len();
    if text.is_empty() {
        return Cow::Borrowed(line);
    }
    if !text.starts_with('#') {
        return replace(line, start..end, f(text));
    }
    let (name, Some(list)) = tag::split(text) else {
        return Cow::Borrowed(line);
    };
    if !URI_TAGS.contains(&name) {
        return Cow::Borrowed(line);
    }
    let Some(attr) = tag::attributes(list).find(|a| a.name == "URI" && a.quoted) else {
        return Cow::Borrowed(line);
    };
    // The attribute list is the tail of `text`, so its spans shift by what precedes it.
    let offset = end - list.len();
    replace(
        line,
        offset + attr.span.start..offset + attr.span.end,
        f(attr.value),
    )
}

fn replace(line: &str, span: std::ops::Range<usize>, new: Option<String>) -> Cow<'_, str> {
    match new {
        Some(new) => Cow::Owned(format!("{}{new}{}", &line[..span.start], &line[span.end..])),
        None => Cow::Borrowed(line),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokenize(body: &str) -> String {
        rewrite_uris(body, |uri| Some(format!("{uri}?t=1")))
    }

    #[test]
    fn rewrites_every_uri_tag_and_uri_line() {
        let body = include_str!("testdata/every_uri.m3u8");
        let want = include_str!("testdata/every_uri.tokenized.m3u8");
        assert_eq!(tokenize(body), want);
    }

    #[test]
    fn visits_uris_in_order_and_keeps_none() {
        let body = include_str!("testdata/every_uri.m3u8");
        let mut seen = Vec::new();
        let kept = rewrite_uris(body, |uri| {
            seen.push(uri.to_owned());
            None
        });
        assert_eq!(kept, body);
        assert_eq!(
            seen,
            [
                "https://keys.example/s.key",
                "audio/en.m3u8",
                "iframe.m3u8",
                "meta.json",
                "low/index.m3u8",
                "init.mp4",
                "k.key",
                "seg1.m4s",
                "seg2.part0.m4s",
                "seg2.part1.m4s",
                "../high/index.m3u8",
            ]
        );
    }

    #[test]
    fn keeps_crlf_bom_and_whitespace() {
        let body =
            "\u{feff}#EXTM3U\r\n\r\n#EXT-X-MAP:URI=\"i.mp4\"\r\n#EXTINF:2,\r\n  a.ts \r\nb.ts";
        let want = concat!(
            "\u{feff}#EXTM3U\r\n\r\n#EXT-X-MAP:URI=\"i.mp4?t=1\"\r\n",
            "#EXTINF:2,\r\n  a.ts?t=1 \r\nb.ts?t=1",
        );
        assert_eq!(tokenize(body), want);
        let every = include_str!("testdata/every_uri.m3u8").replace('\n', "\r\n");
        let every_want = include_str!("testdata/every_uri.tokenized.m3u8").replace('\n', "\r\n");
        assert_eq!(tokenize(&every), every_want);
    }

    #[test]
    fn leaves_other_uri_like_attributes_alone() {
        let body = concat!(
            "#EXT-X-KEY:METHOD=SAMPLE-AES,KEYFORMATURI=\"kf\",KEYFORMAT=\"x\"\n",
            "#EXT-X-CONTENT-STEERING:SERVER-URI=\"steer\"\n",
            "#EXT-X-SESSION-DATA:DATA-ID=\"a\",VALUE=\"URI=x,y\"\n",
            "#EXT-X-DATERANGE:ID=\"d\",X-ASSET-URI=\"ad\"\n",
            "#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"a\",NAME=\"main\"\n",
            "# a comment URI=\"x\"\n",
        );
        assert_eq!(tokenize(body), body);
        let both = "#EXT-X-KEY:METHOD=AES-128,KEYFORMATURI=\"kf\",URI=\"k\"\n";
        assert_eq!(
            tokenize(both),
            "#EXT-X-KEY:METHOD=AES-128,KEYFORMATURI=\"kf\",URI=\"k?t=1\"\n"
        );
    }
}
