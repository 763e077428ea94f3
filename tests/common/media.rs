//! The real media tools a player test runs: whether a tool is installed, and
//! ffmpeg playing an HLS URL for a while, as a player would.

use std::process::{Command, Stdio};

/// Whether `tool` runs (`.ci/setup` installs ffmpeg and ffprobe); says so
/// when it does not, so a skipped test is visible. Under `CI=true` a missing
/// tool fails the test instead: CI has run `.ci/setup`, so it is a set-up bug.
pub fn have(tool: &str) -> bool {
    let found = Command::new(tool)
        .arg("-version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        assert!(
            !ci,
            "{tool} is not installed under CI: .ci/setup must install it"
        );
        eprintln!("skipped: {tool} is not installed (.ci/setup installs it)");
    }
    found
}

/// Plays `url` for `seconds` with ffmpeg (decoding to nothing); `Err` with
/// what ffmpeg said when it failed or reported any error.
pub fn ffmpeg_plays(url: &str, seconds: u64) -> Result<(), String> {
    let out = Command::new("ffmpeg")
        .args([
            "-nostdin",
            "-v",
            "error",
            "-i",
            url,
            "-t",
            &seconds.to_string(),
        ])
        .args(["-f", "null", "-"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if out.status.success() && stderr.is_empty() {
        Ok(())
    } else {
        Err(format!("ffmpeg {}: {stderr}", out.status))
    }
}

/// `ffmpeg -re` pushing `seconds` of a 25 fps 320x180 test pattern with a
/// 1 s GOP and a sine tone, as MPEG-TS PUT to `url` (a packager ingest URL),
/// the way an encoder pushes a live stream. `stderr` is where ffmpeg's errors go.
pub fn push_test_pattern(url: &str, seconds: u32, stderr: Stdio) -> std::process::Child {
    Command::new("ffmpeg")
        .args(["-v", "error", "-re"])
        .args(["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=25"])
        .args(["-f", "lavfi", "-i", "sine"])
        .args(["-t", &seconds.to_string()])
        .args([
            "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", "25",
        ])
        .args(["-c:a", "aac", "-f", "mpegts", "-method", "PUT", url])
        .stdin(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("ffmpeg starts")
}
