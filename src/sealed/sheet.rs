//! Bodies under 2 MiB packed one after another into 4 MiB memory files
//! ("sheets"), so that they too sit on huge pages (`memfile`): a 750 KB
//! segment in a file of its own could only have 4 KiB pages, or hold most of
//! a 2 MiB page for nothing.
//!
//! A body goes into the open sheet at the first free byte; one that does not
//! fit closes the sheet (sealed: no later write) and opens the next. A sheet
//! is given back to the kernel whole, when its last body is dropped, never a
//! part: freeing part of a huge page makes the kernel zero that part first,
//! and `sendfile` may still have its pages queued in a socket. So a sheet
//! holds memory the cache no longer counts (dropped bodies, the unused end),
//! and when bodies are evicted one by one rather than together (a VOD
//! library larger than the cache, not a live window) a few survivors can
//! hold whole sheets. Sheets are therefore bounded in all ([`set_cache_size`]:
//! an eighth of the cache): past that, bodies get a file of their own (4 KiB
//! pages) until a sheet is given back. Their memory is shown in
//! `hls_edge_sealed_sheet_bytes{part="bodies"|"slack"}`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;

use super::memfile::{MemFile, HUGE};
use super::{Backing, Body, Refused, Slot};
use crate::metrics;

/// The size of a sheet: two huge pages.
pub const SHEET: usize = 2 * HUGE;
/// Bodies smaller than this are packed; larger ones get a file of their own.
pub const PACK_BELOW: usize = HUGE;

/// Memory sheets may hold until `set_cache_size` says otherwise.
const DEFAULT_BOUND: usize = 16 * SHEET;

static OPEN: Mutex<Option<Open>> = parking_lot::const_mutex(None);
/// Memory held by sheets, and the bytes of the live bodies in them.
static SHEET_BYTES: AtomicUsize = AtomicUsize::new(0);
static BODY_BYTES: AtomicUsize = AtomicUsize::new(0);
static BOUND: AtomicUsize = AtomicUsize::new(DEFAULT_BOUND);

/// The sheet bodies are placed in now, and its first free byte.
struct Open {
    sheet: Arc<Sheet>,
    used: usize,
}

/// A memory file holding packed bodies; counted while it lives.
pub struct Sheet(MemFile);

impl Sheet {
    pub fn file(&self) -> &MemFile {
        &self.0
    }
}

impl Drop for Sheet {
    fn drop(&mut self) {
        SHEET_BYTES.fetch_sub(self.0.len(), Ordering::AcqRel);
        show();
    }
}

/// Bounds the memory of all sheets to an eighth of the cache's size: what
/// they may hold beyond the bodies the cache counts (none for a cache under
/// 32 MiB, whose bodies then each have a file of their own).
pub fn set_cache_size(bytes: u64) {
    let eighth = usize::try_from(bytes / 8).unwrap_or(usize::MAX);
    BOUND.store(eighth, Ordering::Relaxed);
}

/// `chunks` (`len` bytes in all, under [`PACK_BELOW`]) written into the open sheet,
/// as `Bytes` over their place in its mapping; `None` when the sheets are at
/// their bound and the body should have a file of its own.
pub fn pack(chunks: &[Bytes], len: usize) -> Result<Option<Bytes>, Refused> {
    debug_assert!(len < PACK_BELOW);
    let mut open = OPEN.lock();
    if open.as_ref().is_none_or(|o| o.used + len > SHEET) {
        if let Some(full) = open.take() {
            close(&full.sheet);
        }
        if SHEET_BYTES.load(Ordering::Acquire) + SHEET > BOUND.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let slot = Slot::take().ok_or(Refused::Budget)?;
        let file = MemFile::create(SHEET, slot).map_err(Refused::Kernel)?;
        SHEET_BYTES.fetch_add(SHEET, Ordering::AcqRel);
        *open = Some(Open {
            sheet: Arc::new(Sheet(file)),
            used: 0,
        });
    }
    let o = open.as_mut().expect("a sheet is open");
    let offset = o.used;
    // the place is used up even when the write fails: never written twice
    o.used += len;
    o.sheet
        .file()
        .write_at(chunks, offset)
        .map_err(Refused::Kernel)?;
    BODY_BYTES.fetch_add(len, Ordering::AcqRel);
    show();
    let body = Body::new(Backing::Sheet(Arc::clone(&o.sheet)), offset, len);
    Ok(Some(Bytes::from_owner(body)))
}

/// A packed body dropped: its bytes are slack until the sheet goes.
pub fn dropped(len: usize) {
    BODY_BYTES.fetch_sub(len, Ordering::AcqRel);
    show();
}

fn close(sheet: &Sheet) {
    if let Err(e) = sheet.file().seal() {
        tracing::debug!(error = %e, "a full sheet of stored bodies could not be sealed");
    }
}

fn show() {
    let sheets = SHEET_BYTES.load(Ordering::Acquire);
    let bodies = BODY_BYTES.load(Ordering::Acquire);
    let gauge = &metrics::SEALED_SHEET_BYTES;
    gauge.with_label_values(&["bodies"]).set(bodies as i64);
    gauge
        .with_label_values(&["slack"])
        .set(sheets.saturating_sub(bodies) as i64);
}

#[cfg(test)]
mod tests {
    use std::io::Read;
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsRawFd;

    use super::*;

    fn pattern(len: usize, seed: u8) -> Vec<u8> {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(29) ^ (i >> 11) as u8 ^ seed)
            .collect()
    }

    #[test]
    fn sheets_are_bounded_by_an_eighth_of_the_cache() {
        set_cache_size(8 * 1024 * 1024 * 1024);
        assert_eq!(BOUND.load(Ordering::Relaxed), 1024 * 1024 * 1024);
        set_cache_size(16 * 1024 * 1024);
        assert_eq!(
            BOUND.load(Ordering::Relaxed),
            2 * 1024 * 1024,
            "not one sheet"
        );
        BOUND.store(DEFAULT_BOUND, Ordering::Relaxed);
    }

    /// The bytes of a sheet queued in a socket by `sendfile` arrive unchanged
    /// when the sheet is unmapped and closed before the reader reads them,
    /// and its memory taken by the next sheet: the kernel frees a whole file
    /// without touching pages a socket still holds.
    #[test]
    fn a_sheet_closed_while_its_bytes_are_queued_in_a_socket_sends_them_whole() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let reader = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (writer, _) = listener.accept().unwrap();

        let body = pattern(200_000, 3);
        // across the boundary of the sheet's two huge pages
        let offset = HUGE - 100_000;
        let sheet = MemFile::create(SHEET, Slot::take().expect("a file's place")).unwrap();
        sheet
            .write_at(&[Bytes::from(body.clone())], offset)
            .unwrap();
        sheet.seal().unwrap();
        let mut at = offset as libc::off_t;
        let mut queued = 0;
        while queued < body.len() {
            // SAFETY: sendfile between two descriptors we own.
            let n = unsafe {
                libc::sendfile(
                    writer.as_raw_fd(),
                    sheet.raw_fd(),
                    &mut at,
                    body.len() - queued,
                )
            };
            assert!(n > 0, "queued whole: {}", std::io::Error::last_os_error());
            queued += n as usize;
        }
        drop(sheet);
        let next = MemFile::create(SHEET, Slot::take().expect("a file's place")).unwrap();
        next.write_at(&[Bytes::from(pattern(SHEET, 0x5a))], 0)
            .unwrap();

        let mut got = vec![0u8; body.len()];
        (&reader).read_exact(&mut got).unwrap();
        assert!(got == body, "the closed sheet's bytes, unchanged");
        drop(next);
    }
}
