//! A live HLS stream as ffmpeg's HLS muxer writes it to disk, the usual packager set-up:
//! a 320x180 test pattern and a tone encoded in real time (H.264 with a keyframe every
//! 2 s, AAC), 2 s segments, 6 per playlist, old segments deleted.
//!
//! Each origin gets its own mirror directory holding the same files with the same
//! modification times, so that every nginx in front of one gives the same `ETag` and
//! `Last-Modified` (as two nginx serving one shared volume would). A mirror's playlist
//! can be frozen (its packager stalls: segments stop appearing in its playlist) and
//! thawed (it catches up at once, as a redundant packager in step does).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use super::edge::TempDir;

/// The playlist ffmpeg writes, in every mirror.
pub const PLAYLIST: &str = "index.m3u8";

/// One origin's copy of the stream.
struct Mirror {
    dir: TempDir,
    frozen: Arc<AtomicBool>,
}

/// See the module docs.
pub struct LiveHls {
    ffmpeg: Child,
    source: TempDir,
    mirrors: Vec<Mirror>,
    stop: Arc<AtomicBool>,
    syncer: Option<JoinHandle<()>>,
}

impl LiveHls {
    /// Starts ffmpeg and a mirror for each of `origins` origins.
    pub fn start(origins: usize) -> std::io::Result<LiveHls> {
        let source = TempDir::new("hls-edge-live")?;
        let ffmpeg = Command::new("ffmpeg")
            .args(["-nostdin", "-v", "error", "-re"])
            .args(["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25"])
            .args(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"])
            .args([
                "-c:v",
                "libx264",
                "-preset",
                "ultrafast",
                "-tune",
                "zerolatency",
            ])
            .args([
                "-g",
                "50",
                "-keyint_min",
                "50",
                "-sc_threshold",
                "0",
                "-pix_fmt",
                "yuv420p",
            ])
            .args(["-c:a", "aac", "-b:a", "64k"])
            .args(["-f", "hls", "-hls_time", "2", "-hls_list_size", "6"])
            .args(["-hls_flags", "delete_segments+temp_file"])
            .arg(source.path().join(PLAYLIST))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let mirrors = (0..origins)
            .map(|_| {
                Ok(Mirror {
                    dir: TempDir::new("hls-edge-mirror")?,
                    frozen: Arc::new(AtomicBool::new(false)),
                })
            })
            .collect::<std::io::Result<Vec<_>>>()?;
        let stop = Arc::new(AtomicBool::new(false));
        let syncer = {
            let from = source.path().to_path_buf();
            let to: Vec<(PathBuf, Arc<AtomicBool>)> = mirrors
                .iter()
                .map(|m| (m.dir.path().to_path_buf(), m.frozen.clone()))
                .collect();
            let stop = stop.clone();
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    for (dir, frozen) in &to {
                        sync(&from, dir, frozen.load(Ordering::Relaxed));
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
            })
        };
        Ok(LiveHls {
            ffmpeg,
            source,
            mirrors,
            stop,
            syncer: Some(syncer),
        })
    }

    /// The directory origin `i` serves.
    pub fn root(&self, i: usize) -> &Path {
        self.mirrors[i].dir.path()
    }

    /// Freezes (or thaws) origin `i`'s playlist.
    pub fn freeze(&self, i: usize, frozen: bool) {
        self.mirrors[i].frozen.store(frozen, Ordering::Relaxed);
    }

    /// Waits until every mirror's playlist lists at least `segments` segments.
    pub fn wait_segments(&self, segments: usize, within: Duration) -> Result<(), String> {
        let deadline = Instant::now() + within;
        loop {
            let counts: Vec<usize> = self
                .mirrors
                .iter()
                .map(|m| {
                    let text =
                        std::fs::read_to_string(m.dir.path().join(PLAYLIST)).unwrap_or_default();
                    text.lines().filter(|l| l.starts_with("#EXTINF")).count()
                })
                .collect();
            if counts.iter().all(|&c| c >= segments) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!("segments per mirror after {within:?}: {counts:?}"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The playlist as ffmpeg last wrote it.
    pub fn source_playlist(&self) -> String {
        std::fs::read_to_string(self.source.path().join(PLAYLIST)).unwrap_or_default()
    }
}

impl Drop for LiveHls {
    fn drop(&mut self) {
        let _ = self.ffmpeg.kill();
        let _ = self.ffmpeg.wait();
        self.stop.store(true, Ordering::Relaxed);
        if let Some(syncer) = self.syncer.take() {
            let _ = syncer.join();
        }
    }
}

/// Copies new segments from `from` into `to` (same content, same mtime), then the
/// playlist unless `frozen`, each file atomically (a temp name, then rename), so that
/// nginx never serves a partial file and never lists a segment it lacks.
fn sync(from: &Path, to: &Path, frozen: bool) {
    let Ok(entries) = std::fs::read_dir(from) else {
        return;
    };
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".ts"))
        .collect();
    names.sort();
    for name in names {
        if !to.join(&name).exists() {
            copy_same(&from.join(&name), &to.join(&name));
        }
    }
    if !frozen {
        copy_if_changed(&from.join(PLAYLIST), &to.join(PLAYLIST));
    }
}

fn mtime(path: &Path) -> Option<SystemTime> {
    std::fs::metadata(path).and_then(|m| m.modified()).ok()
}

fn copy_if_changed(from: &Path, to: &Path) {
    let Some(source) = mtime(from) else {
        return;
    };
    let same = mtime(to) == Some(source) && std::fs::read(from).ok() == std::fs::read(to).ok();
    if !same {
        copy_same(from, to);
    }
}

/// `to` becomes a copy of `from` with its modification time.
fn copy_same(from: &Path, to: &Path) {
    let Ok(bytes) = std::fs::read(from) else {
        return; // deleted meanwhile by ffmpeg
    };
    let Some(modified) = mtime(from) else {
        return;
    };
    let temp = to.with_extension("part");
    let written = std::fs::write(&temp, &bytes).and_then(|_| {
        let f = std::fs::File::options().write(true).open(&temp)?;
        f.set_modified(modified)
    });
    if written.is_ok() {
        let _ = std::fs::rename(&temp, to);
    }
}
