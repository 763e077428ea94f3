//! Diagnostics and the access log through `tracing`, text or JSON, filtered
//! by `RUST_LOG` when set, else by `log.level` of the config. Pingora's own
//! `log` records are bridged in.
//!
//! Every line, whoever wrote it and at whatever level, goes out through
//! [`RedactedStderr`]: it is held until complete and written with its secrets
//! replaced (`crate::redaction::line`), so no token, cookie, credential or
//! signature reaches a log even from code the edge does not own (Pingora's
//! request summaries, its trace dumps of request headers).

use std::io::Write;

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::EnvFilter;

use crate::config::LogSettings;

pub fn init(settings: &LogSettings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(RedactedStderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let result = if settings.json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
    if let Err(e) = result {
        eprintln!("hls-edge: logging already initialised: {e}");
    }
}

/// Makes one [`RedactedLine`] per log event.
#[derive(Debug, Clone, Copy, Default)]
pub struct RedactedStderr;

impl<'a> MakeWriter<'a> for RedactedStderr {
    type Writer = RedactedLine;

    fn make_writer(&'a self) -> RedactedLine {
        RedactedLine::default()
    }
}

/// One event's text, collected whole and written redacted when dropped (the
/// formatter drops its writer at the end of each event).
#[derive(Debug, Default)]
pub struct RedactedLine {
    text: Vec<u8>,
}

impl Write for RedactedLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.text.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for RedactedLine {
    fn drop(&mut self) {
        if self.text.is_empty() {
            return;
        }
        let text = String::from_utf8_lossy(&self.text);
        let redacted = crate::redaction::line(&text);
        // nowhere to report a failed write to stderr
        let _ = std::io::stderr().lock().write_all(redacted.as_bytes());
    }
}
