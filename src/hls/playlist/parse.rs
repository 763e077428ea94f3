//! Reading a playlist body into the model of `playlist.rs` (RFC 8216 §4). Tolerant where
//! players are: a UTF-8 BOM, CRLF, blank lines, comments and unknown tags pass (§4.1).
//! Strict where a wrong value would mislead the cache policy or the packager: a malformed
//! value in a modelled tag is an error naming its line.

use std::str::FromStr;

use super::{
    low_latency, MediaPlaylist, MediaSegment, MultivariantPlaylist, OpenSegment, Playlist,
    PlaylistError, PlaylistType, VariantStream,
};
use crate::hls::tag;

/// A non-blank line, trimmed, with its 1-based number.
type Line<'a> = (usize, &'a str);

pub(super) fn playlist(body: &[u8]) -> Result<Playlist, PlaylistError> {
    let text = std::str::from_utf8(body).map_err(|e| PlaylistError::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    let text = text.strip_prefix(tag::BOM).unwrap_or(text);
    let mut lines = text
        .lines()
        .map(str::trim)
        .enumerate()
        .map(|(i, line)| (i + 1, line))
        .filter(|(_, line)| !line.is_empty());
    if !matches!(lines.next(), Some((_, "#EXTM3U"))) {
        return Err(PlaylistError::MissingHeader);
    }
    if is_multivariant(text) {
        let mut parser = MultivariantParser::default();
        lines.try_for_each(|line| parser.line(line))?;
        Ok(Playlist::Multivariant(parser.playlist))
    } else {
        let mut parser = MediaParser::default();
        lines.try_for_each(|line| parser.line(line))?;
        parser.finish().map(Playlist::Media)
    }
}

/// §4.1: a playlist with a variant stream tag is a multivariant playlist.
fn is_multivariant(text: &str) -> bool {
    text.lines().map(str::trim).any(|line| {
        line.starts_with('#')
            && matches!(
                tag::split(line).0,
                "EXT-X-STREAM-INF" | "EXT-X-I-FRAME-STREAM-INF"
            )
    })
}

#[derive(Default)]
struct MediaParser {
    playlist: MediaPlaylist,
    has_target: bool,
    /// The segment the next URI line completes, and whether its `#EXTINF` was seen.
    next: MediaSegment,
    has_extinf: bool,
}

impl MediaParser {
    fn line(&mut self, (n, line): Line<'_>) -> Result<(), PlaylistError> {
        if !line.starts_with('#') {
            return self.uri(n, line);
        }
        let (name, value) = tag::split(line);
        let value = value.unwrap_or("");
        let p = &mut self.playlist;
        match name {
            "EXT-X-VERSION" => p.version = Some(number(n, name, value)?),
            "EXT-X-TARGETDURATION" => {
                p.target_duration = target_duration(n, value)?;
                self.has_target = true;
            }
            "EXT-X-MEDIA-SEQUENCE" => p.media_sequence = number(n, name, value)?,
            "EXT-X-DISCONTINUITY-SEQUENCE" => p.discontinuity_sequence = number(n, name, value)?,
            "EXT-X-PLAYLIST-TYPE" => p.playlist_type = Some(playlist_type(n, value)?),
            "EXT-X-INDEPENDENT-SEGMENTS" => p.independent_segments = true,
            "EXT-X-MAP" if p.map_uri.is_none() => {
                p.map_uri = Some(required(n, name, value, "URI")?.to_owned());
            }
            "EXT-X-PART-INF" => {
                let target = required(n, name, value, "PART-TARGET")?;
                p.part_target = Some(
                    decimal(target)
                        .ok_or_else(|| invalid_attribute(n, name, "PART-TARGET", target))?,
                );
            }
            "EXT-X-ENDLIST" => p.end_list = true,
            _ => self.low_latency_tag(n, name, value)?,
        }
        Ok(())
    }

    /// The playlist-level LL-HLS tags (rfc8216bis §4.4.3.8, §4.4.5); anything else is left
    /// to `segment_tag`.
    fn low_latency_tag(&mut self, n: usize, name: &str, value: &str) -> Result<(), PlaylistError> {
        let p = &mut self.playlist;
        match name {
            "EXT-X-SERVER-CONTROL" => {
                p.server_control = Some(low_latency::server_control(n, value)?);
            }
            "EXT-X-PRELOAD-HINT" => p.preload_hints.push(low_latency::preload_hint(n, value)?),
            "EXT-X-RENDITION-REPORT" => {
                let report = low_latency::rendition_report(n, value)?;
                p.rendition_reports.push(report);
            }
            // §4.4.5.2: it stands for the first segments, so nothing may come before it.
            "EXT-X-SKIP"
                if !p.segments.is_empty() || self.has_extinf || !self.next.parts.is_empty() =>
            {
                return Err(PlaylistError::MisplacedTag {
                    line: n,
                    tag: name.to_owned(),
                });
            }
            "EXT-X-SKIP" => p.skip = Some(low_latency::skip(n, value)?),
            _ => self.segment_tag(n, name, value)?,
        }
        Ok(())
    }

    /// Tags that apply to the next media segment (§4.3.2).
    fn segment_tag(&mut self, n: usize, name: &str, value: &str) -> Result<(), PlaylistError> {
        let next = &mut self.next;
        match name {
            "EXTINF" => {
                let (duration, title) = value.split_once(',').unwrap_or((value, ""));
                next.duration = decimal(duration).ok_or_else(|| invalid_tag(n, name, value))?;
                next.title = Some(title.to_owned()).filter(|t| !t.is_empty());
                self.has_extinf = true;
            }
            "EXT-X-DISCONTINUITY" => next.discontinuity = true,
            "EXT-X-PROGRAM-DATE-TIME" => next.program_date_time = Some(value.to_owned()),
            "EXT-X-BYTERANGE" => next.byte_range = Some(value.to_owned()),
            "EXT-X-PART" => next.parts.push(low_latency::part(n, value)?),
            _ => {}
        }
        Ok(())
    }

    fn uri(&mut self, n: usize, uri: &str) -> Result<(), PlaylistError> {
        if !std::mem::take(&mut self.has_extinf) {
            return Err(PlaylistError::UriWithoutTag {
                line: n,
                uri: uri.to_owned(),
                tag: "EXTINF".to_owned(),
            });
        }
        let mut segment = std::mem::take(&mut self.next);
        segment.uri = uri.to_owned();
        self.playlist.segments.push(segment);
        Ok(())
    }

    /// Parts after the last URI line are the segment still being produced; its other tags
    /// are kept with them, and dropped when there is no part (nothing to attach them to).
    fn finish(mut self) -> Result<MediaPlaylist, PlaylistError> {
        if !self.has_target {
            return Err(PlaylistError::MissingTargetDuration);
        }
        if !self.next.parts.is_empty() {
            self.playlist.open_segment = Some(OpenSegment {
                discontinuity: self.next.discontinuity,
                program_date_time: self.next.program_date_time,
                parts: self.next.parts,
            });
        }
        Ok(self.playlist)
    }
}

#[derive(Default)]
struct MultivariantParser {
    playlist: MultivariantPlaylist,
    /// The variant the next URI line completes.
    next: Option<VariantStream>,
}

impl MultivariantParser {
    fn line(&mut self, (n, line): Line<'_>) -> Result<(), PlaylistError> {
        if !line.starts_with('#') {
            let Some(mut variant) = self.next.take() else {
                return Err(PlaylistError::UriWithoutTag {
                    line: n,
                    uri: line.to_owned(),
                    tag: "EXT-X-STREAM-INF".to_owned(),
                });
            };
            variant.uri = line.to_owned();
            self.playlist.variants.push(variant);
            return Ok(());
        }
        let (name, value) = tag::split(line);
        let value = value.unwrap_or("");
        match name {
            "EXT-X-VERSION" => self.playlist.version = Some(number(n, name, value)?),
            "EXT-X-INDEPENDENT-SEGMENTS" => self.playlist.independent_segments = true,
            "EXT-X-STREAM-INF" => self.next = Some(variant_stream(n, value)?),
            // §4.1: a playlist with both kinds of tags is invalid; say so rather than guess.
            "EXTINF" | "EXT-X-TARGETDURATION" => {
                return Err(PlaylistError::MediaTagInMultivariant {
                    line: n,
                    tag: name.to_owned(),
                });
            }
            _ => {}
        }
        Ok(())
    }
}

/// The attributes of `#EXT-X-STREAM-INF` (§4.3.4.2) that the model keeps.
fn variant_stream(n: usize, list: &str) -> Result<VariantStream, PlaylistError> {
    const TAG: &str = "EXT-X-STREAM-INF";
    let mut variant = VariantStream::default();
    let mut has_bandwidth = false;
    for attr in tag::attributes(list) {
        let bad = || invalid_attribute(n, TAG, attr.name, attr.value);
        match attr.name {
            "BANDWIDTH" => {
                variant.bandwidth = attr.value.parse().map_err(|_| bad())?;
                has_bandwidth = true;
            }
            "AVERAGE-BANDWIDTH" => {
                variant.average_bandwidth = Some(attr.value.parse().map_err(|_| bad())?);
            }
            "CODECS" => variant.codecs = Some(attr.value.to_owned()),
            "RESOLUTION" => variant.resolution = Some(resolution(attr.value).ok_or_else(bad)?),
            "FRAME-RATE" => variant.frame_rate = Some(decimal(attr.value).ok_or_else(bad)?),
            _ => {}
        }
    }
    if !has_bandwidth {
        return Err(PlaylistError::MissingAttribute {
            line: n,
            tag: TAG.to_owned(),
            attribute: "BANDWIDTH".to_owned(),
        });
    }
    Ok(variant)
}

/// A decimal-integer tag value (§4.2).
fn number<T: FromStr>(n: usize, tag: &str, value: &str) -> Result<T, PlaylistError> {
    value.trim().parse().map_err(|_| invalid_tag(n, tag, value))
}

/// §4.3.3.1 requires a decimal-integer; a decimal like `6.006`, written by some packagers,
/// is rounded up so that every segment still fits within the target.
fn target_duration(n: usize, value: &str) -> Result<u64, PlaylistError> {
    let bad = || invalid_tag(n, "EXT-X-TARGETDURATION", value);
    match value.trim().parse::<u64>() {
        Ok(whole) => Ok(whole),
        Err(_) => decimal(value).map(|s| s.ceil() as u64).ok_or_else(bad),
    }
}

/// A non-negative, finite decimal-floating-point (§4.2).
pub(super) fn decimal(value: &str) -> Option<f64> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
}

/// A decimal-resolution `<width>x<height>` (§4.2).
fn resolution(value: &str) -> Option<(u32, u32)> {
    let (width, height) = value.split_once(['x', 'X'])?;
    Some((width.parse().ok()?, height.parse().ok()?))
}

fn playlist_type(n: usize, value: &str) -> Result<PlaylistType, PlaylistError> {
    match value.trim() {
        "EVENT" => Ok(PlaylistType::Event),
        "VOD" => Ok(PlaylistType::Vod),
        _ => Err(invalid_tag(n, "EXT-X-PLAYLIST-TYPE", value)),
    }
}

/// The value of a required attribute of `tag`.
pub(super) fn required<'a>(
    n: usize,
    tag: &str,
    list: &'a str,
    name: &str,
) -> Result<&'a str, PlaylistError> {
    tag::attribute(list, name).ok_or_else(|| PlaylistError::MissingAttribute {
        line: n,
        tag: tag.to_owned(),
        attribute: name.to_owned(),
    })
}

fn invalid_tag(n: usize, tag: &str, value: &str) -> PlaylistError {
    PlaylistError::InvalidTag {
        line: n,
        tag: tag.to_owned(),
        value: value.to_owned(),
    }
}

pub(super) fn invalid_attribute(
    n: usize,
    tag: &str,
    attribute: &str,
    value: &str,
) -> PlaylistError {
    PlaylistError::InvalidAttribute {
        line: n,
        tag: tag.to_owned(),
        attribute: attribute.to_owned(),
        value: value.to_owned(),
    }
}
