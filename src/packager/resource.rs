//! The packager's URL space, parsed from a request path:
//!
//! ```text
//! /hls/{stream}/master.m3u8
//! /hls/{stream}/{generation}/{rendition}/index.m3u8
//! /hls/{stream}/{generation}/{rendition}/seg_{msn}.ts
//! /hls/{stream}/{generation}/{rendition}/part_{msn}.{index}.ts   (LL-HLS)
//! /ingest/{stream}/{rendition}
//! ```
//!
//! Each object has exactly one URL: names are `[a-z0-9_-]+` and numbers have
//! no leading zero, so `seg_07.ts` is not `seg_7.ts` and no cache stores one
//! object twice. No I/O.

use crate::config::packager::is_name;
use crate::hls::playlist::PartPosition;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource<'a> {
    Master {
        stream: &'a str,
    },
    Media {
        stream: &'a str,
        generation: &'a str,
        rendition: &'a str,
    },
    Segment {
        stream: &'a str,
        generation: &'a str,
        rendition: &'a str,
        msn: u64,
    },
    /// A partial segment (rfc8216bis §4.4.4.9).
    Part {
        stream: &'a str,
        generation: &'a str,
        rendition: &'a str,
        at: PartPosition,
    },
    Ingest {
        stream: &'a str,
        rendition: &'a str,
    },
}

impl<'a> Resource<'a> {
    /// The resource a path (without query) names, if any.
    pub fn parse(path: &'a str) -> Option<Resource<'a>> {
        let parts: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
        let resource = match parts[..] {
            ["hls", stream, "master.m3u8"] => Resource::Master { stream },
            ["hls", stream, generation, rendition, "index.m3u8"] => Resource::Media {
                stream,
                generation,
                rendition,
            },
            ["hls", stream, generation, rendition, file] if file.starts_with("part_") => {
                Resource::Part {
                    stream,
                    generation,
                    rendition,
                    at: part_position(file)?,
                }
            }
            ["hls", stream, generation, rendition, file] => {
                let msn = segment_number(file)?;
                Resource::Segment {
                    stream,
                    generation,
                    rendition,
                    msn,
                }
            }
            ["ingest", stream, rendition] => Resource::Ingest { stream, rendition },
            _ => return None,
        };
        resource
            .names()
            .iter()
            .all(|n| is_name(n))
            .then_some(resource)
    }

    /// `GET`/`HEAD` for what is served, `PUT`/`POST` for ingest.
    pub fn allow(&self) -> &'static str {
        match self {
            Resource::Ingest { .. } => "PUT, POST",
            _ => "GET, HEAD",
        }
    }

    fn names(&self) -> Vec<&'a str> {
        match *self {
            Resource::Master { stream } => vec![stream],
            Resource::Media {
                stream,
                generation,
                rendition,
            }
            | Resource::Segment {
                stream,
                generation,
                rendition,
                ..
            }
            | Resource::Part {
                stream,
                generation,
                rendition,
                ..
            } => vec![stream, generation, rendition],
            Resource::Ingest { stream, rendition } => vec![stream, rendition],
        }
    }
}

/// `seg_{msn}.ts` -> msn, decimal without leading zeros.
fn segment_number(file: &str) -> Option<u64> {
    canonical_number(file.strip_prefix("seg_")?.strip_suffix(".ts")?)
}

/// `part_{msn}.{index}.ts` -> its position, both decimal without leading zeros.
fn part_position(file: &str) -> Option<PartPosition> {
    let numbers = file.strip_prefix("part_")?.strip_suffix(".ts")?;
    let (msn, part) = numbers.split_once('.')?;
    Some(PartPosition {
        msn: canonical_number(msn)?,
        part: canonical_number(part)?,
    })
}

fn canonical_number(digits: &str) -> Option<u64> {
    let canonical = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (digits == "0" || !digits.starts_with('0'));
    canonical.then(|| digits.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_each_url() {
        assert_eq!(
            Resource::parse("/hls/demo/master.m3u8"),
            Some(Resource::Master { stream: "demo" })
        );
        assert_eq!(
            Resource::parse("/hls/demo/g1/360p/index.m3u8"),
            Some(Resource::Media {
                stream: "demo",
                generation: "g1",
                rendition: "360p"
            })
        );
        assert_eq!(
            Resource::parse("/hls/demo/g1/360p/seg_12.ts"),
            Some(Resource::Segment {
                stream: "demo",
                generation: "g1",
                rendition: "360p",
                msn: 12
            })
        );
        assert_eq!(
            Resource::parse("/hls/demo/g1/360p/part_12.0.ts"),
            Some(Resource::Part {
                stream: "demo",
                generation: "g1",
                rendition: "360p",
                at: PartPosition { msn: 12, part: 0 }
            })
        );
        assert_eq!(
            Resource::parse("/ingest/live/720p"),
            Some(Resource::Ingest {
                stream: "live",
                rendition: "720p"
            })
        );
    }

    #[test]
    fn refuses_everything_else() {
        for path in [
            "/",
            "hls/demo/master.m3u8",
            "/hls/demo/master.m3u8/",
            "/hls/Demo/master.m3u8",
            "/hls/../master.m3u8",
            "/hls/demo/g1/360p/seg_07.ts",
            "/hls/demo/g1/360p/seg_.ts",
            "/hls/demo/g1/360p/seg_1.mp4",
            "/hls/demo/g1/360p/seg_99999999999999999999999.ts",
            "/hls/demo/g1/360p/x/seg_1.ts",
            "/hls/demo/g1/360p/part_1.ts",
            "/hls/demo/g1/360p/part_1.01.ts",
            "/hls/demo/g1/360p/part_01.1.ts",
            "/hls/demo/g1/360p/part_1.1.2.ts",
            "/hls/demo/g1/360p/part_1..ts",
            "/ingest/live",
            "/ingest/live/720p/more",
        ] {
            assert_eq!(Resource::parse(path), None, "{path}");
        }
        assert_eq!(segment_number("seg_0.ts"), Some(0));
    }
}
