//! The Low-Latency HLS tags of a media playlist (draft-pantos-hls-rfc8216bis §4.4): their
//! types, each field tied to the attribute it comes from, how each tag's attribute list is
//! read, and how each is written back as one line. Where the tags sit in a playlist (which
//! segment a part belongs to) is the parser's and the writer's business, not this file's.
//!
//! Decimals are written in their shortest form that reads back as the same `f64` (`0.5`,
//! `12`), so write -> parse is the identity for every value the parser can produce.

use std::fmt::{self, Display, Formatter};

use super::parse::{decimal, invalid_attribute, required};
use super::PlaylistError;
use crate::hls::tag;

/// `#EXT-X-PART` (rfc8216bis §4.4.4.9): one partial segment of a parent segment. Parts are
/// listed before their parent's `#EXTINF`; the first one of a parent has part index 0.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PartialSegment {
    /// `URI="<uri>"` (required), as written (relative URIs are not resolved).
    pub uri: String,
    /// `DURATION=<s>` (required): at most the playlist's `PART-TARGET`.
    pub duration: f64,
    /// `INDEPENDENT=YES`: the part starts with an independent frame, so a player may start
    /// decoding there.
    pub independent: bool,
    /// `BYTERANGE="<n>[@<o>]"`: the text as given.
    pub byte_range: Option<String>,
    /// `GAP=YES`: the part is not available.
    pub gap: bool,
}

/// `#EXT-X-SERVER-CONTROL` (rfc8216bis §4.4.3.8): what the server can do for a player.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServerControl {
    /// `CAN-BLOCK-RELOAD=YES`: the server holds `_HLS_msn`/`_HLS_part` requests (§6.2.5.2).
    pub can_block_reload: bool,
    /// `CAN-SKIP-UNTIL=<s>`: the Skip Boundary; the server answers `_HLS_skip=YES` with a
    /// delta update (§6.2.5.1). At least 6 target durations.
    pub can_skip_until: Option<f64>,
    /// `CAN-SKIP-DATERANGES=YES`: `_HLS_skip=v2` also skips old `EXT-X-DATERANGE` tags.
    pub can_skip_dateranges: bool,
    /// `HOLD-BACK=<s>`: how far from the end a player starts without parts (default 3 target
    /// durations).
    pub hold_back: Option<f64>,
    /// `PART-HOLD-BACK=<s>`: how far from the end a low-latency player starts; at least
    /// 2 (and should be 3) part targets.
    pub part_hold_back: Option<f64>,
}

/// `TYPE=` of `#EXT-X-PRELOAD-HINT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HintType {
    /// `PART`: the next partial segment.
    Part,
    /// `MAP`: the next media initialization section.
    Map,
}

impl HintType {
    /// The attribute value: `PART` or `MAP`.
    pub fn as_str(self) -> &'static str {
        match self {
            HintType::Part => "PART",
            HintType::Map => "MAP",
        }
    }
}

/// `#EXT-X-PRELOAD-HINT` (rfc8216bis §4.4.5.3): a resource a player may request before it
/// exists; the server holds the request until it can answer it.
#[derive(Debug, Clone, PartialEq)]
pub struct PreloadHint {
    /// `TYPE=<PART|MAP>` (required)
    pub hint_type: HintType,
    /// `URI="<uri>"` (required)
    pub uri: String,
    /// `BYTERANGE-START=<n>`: where the hinted bytes start in the resource (0 when absent).
    pub byte_range_start: Option<u64>,
    /// `BYTERANGE-LENGTH=<n>`: how many bytes (to the end when absent).
    pub byte_range_length: Option<u64>,
}

/// `#EXT-X-RENDITION-REPORT` (rfc8216bis §4.4.5.4): how far another rendition of the same
/// stream has got, so a player switching to it can make a blocking request at once.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RenditionReport {
    /// `URI="<uri>"` (required): that rendition's media playlist, relative to this one.
    pub uri: String,
    /// `LAST-MSN=<n>`: the media sequence number of its last segment, or of the parent of
    /// its last part.
    pub last_msn: Option<u64>,
    /// `LAST-PART=<n>`: the part index of its last part (of `LAST-MSN`).
    pub last_part: Option<u64>,
}

/// `#EXT-X-SKIP` (rfc8216bis §4.4.5.2): in a playlist delta update, stands for the first
/// `skipped_segments` segments of the full playlist.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Skip {
    /// `SKIPPED-SEGMENTS=<n>` (required)
    pub skipped_segments: u64,
    /// `RECENTLY-REMOVED-DATERANGES="<ids>"`: tab-separated `EXT-X-DATERANGE` ids, as given.
    pub recently_removed_dateranges: Option<String>,
}

/// The segment still being produced: the tags after a live playlist's last URI line. Its
/// parts are listed before its `#EXTINF` exists (rfc8216bis §4.4.4.9).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct OpenSegment {
    /// `#EXT-X-DISCONTINUITY` before its first part.
    pub discontinuity: bool,
    /// `#EXT-X-PROGRAM-DATE-TIME` before its first part: the text as given.
    pub program_date_time: Option<String>,
    /// Its `#EXT-X-PART` tags so far, in order (never empty once parsed).
    pub parts: Vec<PartialSegment>,
}

/// Where a partial segment sits in a stream: the media sequence number of its parent and
/// its part index. Positions order as the stream goes on: (7, 3) < (8, 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PartPosition {
    pub msn: u64,
    pub part: u64,
}

pub(super) fn part(n: usize, list: &str) -> Result<PartialSegment, PlaylistError> {
    const TAG: &str = "EXT-X-PART";
    let duration = required(n, TAG, list, "DURATION")?;
    let mut part = PartialSegment {
        uri: required(n, TAG, list, "URI")?.to_owned(),
        duration: decimal(duration)
            .ok_or_else(|| invalid_attribute(n, TAG, "DURATION", duration))?,
        ..PartialSegment::default()
    };
    for attr in tag::attributes(list) {
        match attr.name {
            "INDEPENDENT" => part.independent = yes(n, TAG, &attr)?,
            "GAP" => part.gap = yes(n, TAG, &attr)?,
            "BYTERANGE" => part.byte_range = Some(attr.value.to_owned()),
            _ => {}
        }
    }
    Ok(part)
}

pub(super) fn server_control(n: usize, list: &str) -> Result<ServerControl, PlaylistError> {
    const TAG: &str = "EXT-X-SERVER-CONTROL";
    let mut control = ServerControl::default();
    for attr in tag::attributes(list) {
        let seconds =
            || decimal(attr.value).ok_or_else(|| invalid_attribute(n, TAG, attr.name, attr.value));
        match attr.name {
            "CAN-BLOCK-RELOAD" => control.can_block_reload = yes(n, TAG, &attr)?,
            "CAN-SKIP-UNTIL" => control.can_skip_until = Some(seconds()?),
            "CAN-SKIP-DATERANGES" => control.can_skip_dateranges = yes(n, TAG, &attr)?,
            "HOLD-BACK" => control.hold_back = Some(seconds()?),
            "PART-HOLD-BACK" => control.part_hold_back = Some(seconds()?),
            _ => {}
        }
    }
    Ok(control)
}

pub(super) fn preload_hint(n: usize, list: &str) -> Result<PreloadHint, PlaylistError> {
    const TAG: &str = "EXT-X-PRELOAD-HINT";
    let hint_type = match required(n, TAG, list, "TYPE")? {
        "PART" => HintType::Part,
        "MAP" => HintType::Map,
        other => return Err(invalid_attribute(n, TAG, "TYPE", other)),
    };
    let mut hint = PreloadHint {
        hint_type,
        uri: required(n, TAG, list, "URI")?.to_owned(),
        byte_range_start: None,
        byte_range_length: None,
    };
    for attr in tag::attributes(list) {
        match attr.name {
            "BYTERANGE-START" => hint.byte_range_start = Some(integer(n, TAG, &attr)?),
            "BYTERANGE-LENGTH" => hint.byte_range_length = Some(integer(n, TAG, &attr)?),
            _ => {}
        }
    }
    Ok(hint)
}

pub(super) fn rendition_report(n: usize, list: &str) -> Result<RenditionReport, PlaylistError> {
    const TAG: &str = "EXT-X-RENDITION-REPORT";
    let mut report = RenditionReport {
        uri: required(n, TAG, list, "URI")?.to_owned(),
        ..RenditionReport::default()
    };
    for attr in tag::attributes(list) {
        match attr.name {
            "LAST-MSN" => report.last_msn = Some(integer(n, TAG, &attr)?),
            "LAST-PART" => report.last_part = Some(integer(n, TAG, &attr)?),
            _ => {}
        }
    }
    Ok(report)
}

pub(super) fn skip(n: usize, list: &str) -> Result<Skip, PlaylistError> {
    const TAG: &str = "EXT-X-SKIP";
    let count = required(n, TAG, list, "SKIPPED-SEGMENTS")?;
    Ok(Skip {
        skipped_segments: count
            .parse()
            .map_err(|_| invalid_attribute(n, TAG, "SKIPPED-SEGMENTS", count))?,
        recently_removed_dateranges: tag::attribute(list, "RECENTLY-REMOVED-DATERANGES")
            .map(str::to_owned),
    })
}

/// An enumerated-string `YES` or `NO` (§4.2: the attribute is absent or `YES` in practice).
fn yes(n: usize, tag: &str, attr: &tag::Attribute<'_>) -> Result<bool, PlaylistError> {
    match attr.value {
        "YES" => Ok(true),
        "NO" => Ok(false),
        other => Err(invalid_attribute(n, tag, attr.name, other)),
    }
}

fn integer(n: usize, tag: &str, attr: &tag::Attribute<'_>) -> Result<u64, PlaylistError> {
    attr.value
        .parse()
        .map_err(|_| invalid_attribute(n, tag, attr.name, attr.value))
}

/// `#EXT-X-PART:DURATION=..,URI=".."[,INDEPENDENT=YES][,BYTERANGE=".."][,GAP=YES]`
impl Display for PartialSegment {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "#EXT-X-PART:DURATION={},URI=\"{}\"",
            self.duration, self.uri
        )?;
        if self.independent {
            f.write_str(",INDEPENDENT=YES")?;
        }
        if let Some(range) = &self.byte_range {
            write!(f, ",BYTERANGE=\"{range}\"")?;
        }
        if self.gap {
            f.write_str(",GAP=YES")?;
        }
        Ok(())
    }
}

/// `#EXT-X-SERVER-CONTROL:` with the attributes that are set, in the order of §4.4.3.8.
impl Display for ServerControl {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str("#EXT-X-SERVER-CONTROL:")?;
        let mut list = AttributeList::new(f);
        if self.can_block_reload {
            list.raw("CAN-BLOCK-RELOAD", "YES")?;
        }
        if let Some(s) = self.can_skip_until {
            list.raw("CAN-SKIP-UNTIL", s)?;
        }
        if self.can_skip_dateranges {
            list.raw("CAN-SKIP-DATERANGES", "YES")?;
        }
        if let Some(s) = self.hold_back {
            list.raw("HOLD-BACK", s)?;
        }
        if let Some(s) = self.part_hold_back {
            list.raw("PART-HOLD-BACK", s)?;
        }
        Ok(())
    }
}

/// `#EXT-X-PRELOAD-HINT:TYPE=..,URI=".."[,BYTERANGE-START=n][,BYTERANGE-LENGTH=n]`
impl Display for PreloadHint {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let kind = self.hint_type.as_str();
        write!(f, "#EXT-X-PRELOAD-HINT:TYPE={kind},URI=\"{}\"", self.uri)?;
        if let Some(start) = self.byte_range_start {
            write!(f, ",BYTERANGE-START={start}")?;
        }
        if let Some(length) = self.byte_range_length {
            write!(f, ",BYTERANGE-LENGTH={length}")?;
        }
        Ok(())
    }
}

/// `#EXT-X-RENDITION-REPORT:URI=".."[,LAST-MSN=n][,LAST-PART=n]`
impl Display for RenditionReport {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "#EXT-X-RENDITION-REPORT:URI=\"{}\"", self.uri)?;
        if let Some(msn) = self.last_msn {
            write!(f, ",LAST-MSN={msn}")?;
        }
        if let Some(part) = self.last_part {
            write!(f, ",LAST-PART={part}")?;
        }
        Ok(())
    }
}

/// `#EXT-X-SKIP:SKIPPED-SEGMENTS=n[,RECENTLY-REMOVED-DATERANGES=".."]`
impl Display for Skip {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "#EXT-X-SKIP:SKIPPED-SEGMENTS={}", self.skipped_segments)?;
        if let Some(ids) = &self.recently_removed_dateranges {
            write!(f, ",RECENTLY-REMOVED-DATERANGES=\"{ids}\"")?;
        }
        Ok(())
    }
}

/// Writes `NAME=value` pairs separated by commas.
struct AttributeList<'a, 'b> {
    f: &'a mut Formatter<'b>,
    first: bool,
}

impl<'a, 'b> AttributeList<'a, 'b> {
    fn new(f: &'a mut Formatter<'b>) -> Self {
        AttributeList { f, first: true }
    }

    fn raw(&mut self, name: &str, value: impl Display) -> fmt::Result {
        let separator = if std::mem::take(&mut self.first) {
            ""
        } else {
            ","
        };
        write!(self.f, "{separator}{name}={value}")
    }
}
