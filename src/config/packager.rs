//! `packager:` the colocated origin packager's section of the config file.
//!
//! Owns the schema of the section and its validation (names, key hashes, loop
//! files, retention limits); what the packager does with it lives in
//! `crate::packager`.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use super::file::Unknown;
use super::Problems;

/// The section as written.
#[derive(Debug, Default, Deserialize)]
pub struct PackagerFile {
    pub listen: Option<String>,
    pub target_duration: Option<String>,
    pub window: Option<u64>,
    pub keep_behind: Option<u64>,
    pub ended_retention: Option<String>,
    pub max_bytes: Option<String>,
    pub low_latency: Option<bool>,
    pub part_target: Option<String>,
    #[serde(default)]
    pub streams: Vec<StreamFile>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `packager.streams[i]:` one stream the packager accepts.
#[derive(Debug, Default, Deserialize)]
pub struct StreamFile {
    pub name: Option<String>,
    pub key_sha256: Option<String>,
    #[serde(rename = "loop")]
    pub loops: Option<Vec<LoopFile>>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// `packager.streams[i].loop[j]:` a TS file played in a loop as one rendition.
#[derive(Debug, Default, Deserialize)]
pub struct LoopFile {
    pub rendition: Option<String>,
    pub file: Option<String>,
    #[serde(flatten)]
    pub unknown: Unknown,
}

/// The validated packager settings.
#[derive(Debug, Clone)]
pub struct PackagerConfig {
    /// Where the packager serves HLS to the edge (and to other edges in
    /// origin-only mode) and accepts ingest.
    pub listen: SocketAddr,
    /// Segments are cut at the first keyframe at or after this duration.
    pub target_duration: Duration,
    /// Segments listed in a live media playlist.
    pub window: usize,
    /// Segments kept (still fetchable) behind the window for late players.
    pub keep_behind: usize,
    /// How long an ended generation stays fetchable before it is deleted.
    pub ended_retention: Duration,
    /// Bound of the segment bytes held in memory, all streams together.
    pub max_bytes: u64,
    /// LL-HLS (partial segments, blocking reload, delta updates); `None` when off.
    pub low_latency: Option<LowLatencyConfig>,
    pub streams: Vec<StreamConfig>,
}

/// `packager.low_latency: true` and what goes with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LowLatencyConfig {
    /// Longest partial segment (`PART-TARGET`). Players stay `PART-HOLD-BACK` =
    /// 3 part targets behind the live edge, so the default 500 ms gives about
    /// 1.5 s of latency.
    pub part_target: Duration,
}

/// One configured stream.
#[derive(Debug, Clone)]
pub struct StreamConfig {
    /// `[a-z0-9_-]+`, the `{stream}` of the URLs.
    pub name: String,
    /// SHA-256 of the push key; `None` refuses push ingest.
    pub key_sha256: Option<[u8; 32]>,
    /// Looping file sources, one per rendition; empty for a pushed stream.
    pub loops: Vec<LoopConfig>,
}

/// One looping rendition.
#[derive(Debug, Clone)]
pub struct LoopConfig {
    pub rendition: String,
    /// Relative paths are relative to the working directory of the process.
    pub file: PathBuf,
}

/// Validates `packager:`; problems are reported under `packager.`.
pub fn validate(file: PackagerFile, problems: &mut Problems) -> Option<PackagerConfig> {
    let p = problems;
    p.unknown_keys("packager", &file.unknown);
    let listen = p.socket_addr("packager.listen", file.listen.as_deref(), "127.0.0.1:8081");
    let target_duration = p.duration(
        "packager.target_duration",
        file.target_duration.as_deref(),
        "2s",
    );
    if let Some(t) = target_duration {
        if t < Duration::from_millis(500) || t > Duration::from_secs(60) {
            p.push(
                "packager.target_duration",
                format!("{t:?} is not between 500ms and 60s"),
            );
        }
    }
    // RFC 8216 §6.2.2: a live playlist must stay at least three target durations long.
    let window = count(p, "packager.window", file.window, 6, 3..=1000);
    let keep_behind = count(p, "packager.keep_behind", file.keep_behind, 6, 0..=10_000);
    let ended_retention = p.duration(
        "packager.ended_retention",
        file.ended_retention.as_deref(),
        "10m",
    );
    let max_bytes = p.size("packager.max_bytes", file.max_bytes.as_deref(), "512MiB");
    if let Some(max) = max_bytes {
        if max < 1024 * 1024 {
            p.push(
                "packager.max_bytes",
                format!("{max} bytes is less than 1MiB"),
            );
        }
    }
    let low_latency = low_latency(p, &file, target_duration);
    let streams = streams(&file.streams, p);
    Some(PackagerConfig {
        listen: listen?,
        target_duration: target_duration?,
        window: window?,
        keep_behind: keep_behind?,
        ended_retention: ended_retention?,
        max_bytes: max_bytes?,
        low_latency: low_latency?,
        streams,
    })
}

/// `low_latency` and `part_target`. A part target must leave a segment at
/// least two parts, and is at least 100 ms (each part is one playlist reload
/// per player).
fn low_latency(
    p: &mut Problems,
    file: &PackagerFile,
    target_duration: Option<Duration>,
) -> Option<Option<LowLatencyConfig>> {
    let path = "packager.part_target";
    if file.low_latency != Some(true) {
        if file.part_target.is_some() {
            p.push(path, "has no effect without packager.low_latency: true");
            return None;
        }
        return Some(None);
    }
    let part_target = p.duration(path, file.part_target.as_deref(), "500ms")?;
    let longest = target_duration.map_or(Duration::from_secs(30), |t| t / 2);
    if part_target < Duration::from_millis(100) || part_target > longest {
        p.push(
            path,
            format!(
                "{part_target:?} is not between 100ms and half the target_duration ({longest:?})"
            ),
        );
        return None;
    }
    Some(Some(LowLatencyConfig { part_target }))
}

fn count(
    p: &mut Problems,
    path: &str,
    value: Option<u64>,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Option<usize> {
    let value = value.unwrap_or(default);
    if !range.contains(&value) {
        p.push(
            path,
            format!(
                "{value} is not between {} and {}",
                range.start(),
                range.end()
            ),
        );
        return None;
    }
    usize::try_from(value).ok()
}

fn streams(files: &[StreamFile], p: &mut Problems) -> Vec<StreamConfig> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (i, s) in files.iter().enumerate() {
        let path = format!("packager.streams[{i}]");
        p.unknown_keys(&path, &s.unknown);
        let name = name(p, &format!("{path}.name"), s.name.as_deref());
        if let Some(name) = &name {
            if !seen.insert(name.clone()) {
                p.push(
                    format!("{path}.name"),
                    format!("'{name}' is already used by another stream"),
                );
            }
        }
        let key_sha256 = s.key_sha256.as_deref().and_then(|k| {
            let key_path = format!("{path}.key_sha256");
            let hash = key_hash(p, &key_path, k)?;
            refuse_weak_key_hash(p, &key_path, &hash, name.as_deref())
        });
        let loops = loops(p, &path, s.loops.as_deref());
        match (s.key_sha256.is_some(), s.loops.is_some()) {
            (true, true) => p.push(
                path.clone(),
                "has both key_sha256 (push) and loop (file source); a stream is one or the other",
            ),
            (false, false) => p.push(
                path.clone(),
                "has neither key_sha256 (push ingest) nor loop (file source)",
            ),
            _ => {}
        }
        if let Some(name) = name {
            out.push(StreamConfig {
                name,
                key_sha256,
                loops,
            });
        }
    }
    out
}

fn loops(p: &mut Problems, stream_path: &str, files: Option<&[LoopFile]>) -> Vec<LoopConfig> {
    let Some(files) = files else {
        return Vec::new();
    };
    if files.is_empty() {
        p.push(
            format!("{stream_path}.loop"),
            "needs at least one rendition",
        );
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (j, l) in files.iter().enumerate() {
        let path = format!("{stream_path}.loop[{j}]");
        p.unknown_keys(&path, &l.unknown);
        let rendition = name(p, &format!("{path}.rendition"), l.rendition.as_deref());
        if let Some(r) = &rendition {
            if !seen.insert(r.clone()) {
                p.push(
                    format!("{path}.rendition"),
                    format!("'{r}' is already looped in this stream"),
                );
            }
        }
        let file = match l.file.as_deref() {
            None => {
                p.push(format!("{path}.file"), "is required");
                None
            }
            Some(f) if !std::path::Path::new(f).is_file() => {
                p.push(
                    format!("{path}.file"),
                    format!("'{f}' is not a readable file"),
                );
                None
            }
            Some(f) => Some(PathBuf::from(f)),
        };
        if let (Some(rendition), Some(file)) = (rendition, file) {
            out.push(LoopConfig { rendition, file });
        }
    }
    out
}

/// A stream or rendition name: one URL path segment, `[a-z0-9_-]+`.
fn name(p: &mut Problems, path: &str, value: Option<&str>) -> Option<String> {
    match value {
        None => {
            p.push(path, "is required");
            None
        }
        Some(v) if is_name(v) => Some(v.to_string()),
        Some(v) => {
            p.push(
                path,
                format!("'{v}' must be 1 to 64 of a-z, 0-9, '_' or '-'"),
            );
            None
        }
    }
}

/// Whether `s` is a valid stream or rendition name (`[a-z0-9_-]{1,64}`).
pub fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

/// The hash is not a secret, but is still never echoed back in full.
fn key_hash(p: &mut Problems, path: &str, text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    match hex::decode_to_slice(text.trim(), &mut out) {
        Ok(()) => Some(out),
        Err(_) => {
            p.push(
                path,
                "is not 64 hex digits (make one with: printf %s \"$KEY\" | sha256sum)",
            );
            None
        }
    }
}

/// Keys no stream should have: a configured hash of one of them (or of the
/// stream's own name) means anyone can push. The edge only ever sees the
/// hash, so this catches the guessable keys; ingest also refuses any key
/// shorter than `stream_key::MIN_KEY_LEN`.
const WELL_KNOWN_KEYS: &[&str] = &[
    "key",
    "secret",
    "password",
    "passw0rd",
    "changeme",
    "test",
    "test-key",
    "stream",
    "live",
    "demo",
    "ingest",
    "publish",
    "admin",
    "default",
    "1234",
    "12345",
    "123456",
    "12345678",
    "123456789",
    "1234567890",
    "qwerty",
    "letmein",
    "streamkey",
    "stream-key",
    "live-key",
];

fn refuse_weak_key_hash(
    p: &mut Problems,
    path: &str,
    hash: &[u8; 32],
    stream: Option<&str>,
) -> Option<[u8; 32]> {
    use sha2::{Digest, Sha256};
    let is_hash_of = |key: &str| Sha256::digest(key.as_bytes()).as_slice() == hash.as_slice();
    let why = if hash.iter().all(|&b| b == hash[0]) {
        Some("is not a sha-256 of any key (one repeated byte)")
    } else if is_hash_of("") {
        Some("is the sha-256 of the empty key")
    } else if stream.is_some_and(is_hash_of) {
        Some("is the sha-256 of the stream's name")
    } else if WELL_KNOWN_KEYS.iter().any(|k| is_hash_of(k)) {
        Some("is the sha-256 of a well-known weak key")
    } else {
        None
    };
    match why {
        Some(why) => {
            p.push(
                path,
                format!(
                    "{why}: pick a random key (openssl rand -hex 16) and configure its sha-256"
                ),
            );
            None
        }
        None => Some(*hash),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(yaml: &str) -> Result<PackagerConfig, Vec<String>> {
        let file: PackagerFile = serde_yaml::from_str(yaml).expect("yaml");
        let mut p = Problems::default();
        let config = validate(file, &mut p);
        match (p.is_empty(), config) {
            (true, Some(c)) => Ok(c),
            _ => Err(p
                .into_error()
                .problems()
                .iter()
                .map(|x| format!("{}: {}", x.path, x.message))
                .collect()),
        }
    }

    /// `printf %s strong-stream-key-0b9e6d | sha256sum`
    const KEY: &str = "d4ce0ec79edebed6eb547fbfc57ddd6b1947627c95643f52adb6e3e8e1f10b9b";

    #[test]
    fn defaults() {
        let c = check(&format!("streams: [{{name: live, key_sha256: \"{KEY}\"}}]")).unwrap();
        assert_eq!(c.listen, "127.0.0.1:8081".parse().unwrap());
        assert_eq!(c.target_duration, Duration::from_secs(2));
        assert_eq!((c.window, c.keep_behind), (6, 6));
        assert_eq!(c.ended_retention, Duration::from_secs(600));
        assert_eq!(c.max_bytes, 512 * 1024 * 1024);
        assert_eq!(hex::encode(c.streams[0].key_sha256.unwrap()), KEY);
    }

    #[test]
    fn every_problem_has_its_path() {
        let errors = check(
            "window: 1\nmax_bytes: 10\ncolour: red\nstreams:\n\
             - {name: Bad Name, key_sha256: nothex}\n\
             - {name: a, loop: [{rendition: 720p, file: /nonexistent.ts}, {rendition: 720p}]}\n\
             - {name: a}\n",
        )
        .unwrap_err();
        let expected = [
            "packager.colour: unknown key",
            "packager.window: 1 is not between 3 and 1000",
            "packager.max_bytes: 10 bytes is less than 1MiB",
            "packager.streams[0].name: 'Bad Name' must be",
            "packager.streams[0].key_sha256: is not 64 hex digits",
            "packager.streams[1].loop[0].file: '/nonexistent.ts' is not a readable file",
            "packager.streams[1].loop[1].rendition: '720p' is already looped",
            "packager.streams[1].loop[1].file: is required",
            "packager.streams[2].name: 'a' is already used",
            "packager.streams[2]: has neither key_sha256",
        ];
        for e in expected {
            assert!(
                errors.iter().any(|x| x.starts_with(e)),
                "missing {e:?} in {errors:#?}"
            );
        }
        assert_eq!(errors.len(), expected.len(), "{errors:#?}");
    }

    #[test]
    fn low_latency_defaults_and_problems() {
        let stream = "streams: [{name: live, key_sha256: \"1bbecf5e3dc492ecbbd17bccdd6f5777c592a016fbaabc1bb501a2e5695b8b92\"}]";
        let off = check(stream).unwrap();
        assert_eq!(off.low_latency, None);
        let on = check(&format!("low_latency: true\n{stream}")).unwrap();
        assert_eq!(
            on.low_latency,
            Some(LowLatencyConfig {
                part_target: Duration::from_millis(500)
            })
        );
        let third = check(&format!("low_latency: true\npart_target: 334ms\n{stream}")).unwrap();
        assert_eq!(
            third.low_latency.map(|l| l.part_target),
            Some(Duration::from_millis(334))
        );
        for (yaml, want) in [
            (
                "part_target: 500ms",
                "packager.part_target: has no effect without packager.low_latency: true",
            ),
            (
                "low_latency: false\npart_target: 500ms",
                "packager.part_target: has no effect",
            ),
            (
                "low_latency: true\npart_target: 50ms",
                "packager.part_target: 50ms is not between 100ms and half the target_duration (1s)",
            ),
            (
                "low_latency: true\npart_target: 1500ms",
                "packager.part_target: 1.5s is not between",
            ),
            (
                "low_latency: true\ntarget_duration: 4s\npart_target: 3s",
                "packager.part_target: 3s is not between 100ms and half the target_duration (2s)",
            ),
            (
                "low_latency: true\npart_target: soon",
                "packager.part_target: ",
            ),
        ] {
            let errors = check(&format!("{yaml}\n{stream}")).unwrap_err();
            assert!(
                errors.len() == 1 && errors[0].starts_with(want),
                "{yaml}: {errors:#?}"
            );
        }
    }

    #[test]
    fn names() {
        assert!(is_name("demo") && is_name("720p") && is_name("a_b-c"));
        assert!(
            !is_name("")
                && !is_name("A")
                && !is_name("a/b")
                && !is_name("..")
                && !is_name(&"a".repeat(65))
        );
    }
}
