//! Writing the model of `playlist.rs` as playlist text (RFC 8216 §4). Output is
//! deterministic: one fixed tag order, LF line endings, `#EXTINF` and `FRAME-RATE` with three
//! decimals, so the same value always gives the same bytes.
//!
//! Values are written as given: a URI or title containing a quote or a line break, or a
//! non-finite duration, gives a playlist that does not parse back.

use std::fmt::{self, Display, Formatter, Write};

use super::{MediaPlaylist, MediaSegment, MultivariantPlaylist, OpenSegment, VariantStream};

/// Header tags (TARGETDURATION, SERVER-CONTROL, MEDIA-SEQUENCE, DISCONTINUITY-SEQUENCE,
/// PLAYLIST-TYPE, PART-INF, MAP), then `#EXT-X-SKIP`, then per segment DISCONTINUITY,
/// PROGRAM-DATE-TIME, its PARTs, BYTERANGE, EXTINF and the URI; then the open segment's
/// DISCONTINUITY, PROGRAM-DATE-TIME and PARTs, the PRELOAD-HINTs, the RENDITION-REPORTs and
/// `#EXT-X-ENDLIST` last. `#EXT-X-MEDIA-SEQUENCE` is always written;
/// `#EXT-X-DISCONTINUITY-SEQUENCE` only when non-zero.
impl Display for MediaPlaylist {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write_header(f, self.version, self.independent_segments)?;
        writeln!(f, "#EXT-X-TARGETDURATION:{}", self.target_duration)?;
        if let Some(control) = &self.server_control {
            writeln!(f, "{control}")?;
        }
        writeln!(f, "#EXT-X-MEDIA-SEQUENCE:{}", self.media_sequence)?;
        if self.discontinuity_sequence != 0 {
            writeln!(
                f,
                "#EXT-X-DISCONTINUITY-SEQUENCE:{}",
                self.discontinuity_sequence
            )?;
        }
        if let Some(kind) = self.playlist_type {
            writeln!(f, "#EXT-X-PLAYLIST-TYPE:{}", kind.as_str())?;
        }
        if let Some(target) = self.part_target {
            // Shortest text that reads back as the same f64.
            writeln!(f, "#EXT-X-PART-INF:PART-TARGET={target}")?;
        }
        if let Some(uri) = &self.map_uri {
            writeln!(f, "#EXT-X-MAP:URI=\"{uri}\"")?;
        }
        if let Some(skip) = &self.skip {
            writeln!(f, "{skip}")?;
        }
        for segment in &self.segments {
            write_segment(f, segment)?;
        }
        if let Some(open) = &self.open_segment {
            write_open_segment(f, open)?;
        }
        for hint in &self.preload_hints {
            writeln!(f, "{hint}")?;
        }
        for report in &self.rendition_reports {
            writeln!(f, "{report}")?;
        }
        if self.end_list {
            f.write_str("#EXT-X-ENDLIST\n")?;
        }
        Ok(())
    }
}

fn write_segment(f: &mut Formatter<'_>, segment: &MediaSegment) -> fmt::Result {
    if segment.discontinuity {
        f.write_str("#EXT-X-DISCONTINUITY\n")?;
    }
    if let Some(date_time) = &segment.program_date_time {
        writeln!(f, "#EXT-X-PROGRAM-DATE-TIME:{date_time}")?;
    }
    for part in &segment.parts {
        writeln!(f, "{part}")?;
    }
    if let Some(range) = &segment.byte_range {
        writeln!(f, "#EXT-X-BYTERANGE:{range}")?;
    }
    let title = segment.title.as_deref().unwrap_or("");
    writeln!(f, "#EXTINF:{:.3},{title}", segment.duration)?;
    writeln!(f, "{}", segment.uri)
}

/// The segment being produced has no `#EXTINF` yet: its tags and parts only.
fn write_open_segment(f: &mut Formatter<'_>, open: &OpenSegment) -> fmt::Result {
    if open.discontinuity {
        f.write_str("#EXT-X-DISCONTINUITY\n")?;
    }
    if let Some(date_time) = &open.program_date_time {
        writeln!(f, "#EXT-X-PROGRAM-DATE-TIME:{date_time}")?;
    }
    open.parts.iter().try_for_each(|part| writeln!(f, "{part}"))
}

/// Header tags, then each `#EXT-X-STREAM-INF` followed by its URI.
impl Display for MultivariantPlaylist {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write_header(f, self.version, self.independent_segments)?;
        self.variants.iter().try_for_each(|v| write_variant(f, v))
    }
}

/// Attributes in the order RFC 8216 §4.3.4.2 lists them.
fn write_variant(f: &mut Formatter<'_>, variant: &VariantStream) -> fmt::Result {
    write!(f, "#EXT-X-STREAM-INF:BANDWIDTH={}", variant.bandwidth)?;
    if let Some(average) = variant.average_bandwidth {
        write!(f, ",AVERAGE-BANDWIDTH={average}")?;
    }
    if let Some(codecs) = &variant.codecs {
        write!(f, ",CODECS=\"{codecs}\"")?;
    }
    if let Some((width, height)) = variant.resolution {
        write!(f, ",RESOLUTION={width}x{height}")?;
    }
    if let Some(rate) = variant.frame_rate {
        write!(f, ",FRAME-RATE={rate:.3}")?;
    }
    f.write_char('\n')?;
    writeln!(f, "{}", variant.uri)
}

/// `#EXTM3U`, then the version and independent-segments tags when set: the
/// start of every playlist.
fn write_header(f: &mut Formatter<'_>, version: Option<u8>, independent: bool) -> fmt::Result {
    f.write_str("#EXTM3U\n")?;
    if let Some(version) = version {
        writeln!(f, "#EXT-X-VERSION:{version}")?;
    }
    if independent {
        f.write_str("#EXT-X-INDEPENDENT-SEGMENTS\n")?;
    }
    Ok(())
}
