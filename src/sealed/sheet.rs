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
//! `hls_edge_sealed_sheet_bytes{part="bodies"|"spare"|"slack"}`.
//!
//! Making a sheet (a memory file, two huge pages asked for) is kernel work:
//! a fifth of a millisecond when it reuses pages just freed, 6-10 ms for
//! memory not touched lately (measured on a virtual host), more where it has
//! to compact memory first. So the next sheet is made ahead of need, by a thread of its
//! own (`spare`), when the first fill begins and whenever a sheet is opened:
//! the fill that fills a sheet takes the spare (waiting for it if it is being
//! made) and makes one itself only when the maker has not started on it or
//! the bound leaves no room (`hls_edge_sealed_sheets_total{made="ahead"|"inline"}`).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use once_cell::sync::Lazy;
use parking_lot::{Condvar, Mutex};

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
/// The sheet made ahead of need, to be opened next.
static SPARE: Mutex<Spare> = parking_lot::const_mutex(Spare {
    sheet: None,
    making: false,
});
/// Signalled when the maker is done making a spare.
static SPARE_MADE: Condvar = Condvar::new();
/// How long a fill waits for a spare being made before making a sheet itself.
const SPARE_WAIT: Duration = Duration::from_millis(100);
/// Asks the thread that makes spares for one; `None` when it could not start.
static MAKER: Lazy<Option<SyncSender<()>>> = Lazy::new(start_maker);
/// Memory held by sheets (the spare's included), the bytes of the live
/// bodies in them, and the spare's.
static SHEET_BYTES: AtomicUsize = AtomicUsize::new(0);
static BODY_BYTES: AtomicUsize = AtomicUsize::new(0);
static SPARE_BYTES: AtomicUsize = AtomicUsize::new(0);
static BOUND: AtomicUsize = AtomicUsize::new(DEFAULT_BOUND);

/// The sheet made ahead of need, and whether the maker is making one now.
struct Spare {
    sheet: Option<Sheet>,
    making: bool,
}

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
        // its room may be what a spare was waiting for
        ask_for_spare();
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
        let Some(sheet) = next_sheet()? else {
            return Ok(None);
        };
        *open = Some(Open {
            sheet: Arc::new(sheet),
            used: 0,
        });
        ask_for_spare();
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

/// The sheet to open next: the spare when there is one or is being made
/// (it is ready sooner than one made now, and holds the room the bound may
/// have left), else one made now; `None` when the bound leaves no room.
fn next_sheet() -> Result<Option<Sheet>, Refused> {
    let mut spare = SPARE.lock();
    while spare.sheet.is_none() && spare.making {
        if SPARE_MADE.wait_for(&mut spare, SPARE_WAIT).timed_out() {
            break;
        }
    }
    if let Some(sheet) = spare.sheet.take() {
        SPARE_BYTES.store(0, Ordering::Release);
        drop(spare);
        opened("ahead");
        return Ok(Some(sheet));
    }
    drop(spare);
    let sheet = make()?;
    if sheet.is_some() {
        opened("inline");
    }
    Ok(sheet)
}

fn opened(made: &str) {
    metrics::SEALED_SHEETS.with_label_values(&[made]).inc();
}

/// A new sheet, its memory counted; `None` when the bound leaves no room.
fn make() -> Result<Option<Sheet>, Refused> {
    let bound = BOUND.load(Ordering::Relaxed);
    let room = SHEET_BYTES.fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
        (held + SHEET <= bound).then_some(held + SHEET)
    });
    if room.is_err() {
        return Ok(None);
    }
    let file = Slot::take()
        .ok_or(Refused::Budget)
        .and_then(|slot| MemFile::create(SHEET, slot).map_err(Refused::Kernel));
    match file {
        Ok(file) => Ok(Some(Sheet(file))),
        Err(why) => {
            SHEET_BYTES.fetch_sub(SHEET, Ordering::AcqRel);
            Err(why)
        }
    }
}

/// Starts the thread that makes spare sheets, one each time it is asked.
/// It is started by the first fill, so in the process that serves.
fn start_maker() -> Option<SyncSender<()>> {
    let (ask, asked) = sync_channel::<()>(1);
    let started = std::thread::Builder::new()
        .name("hls-edge-sheets".into())
        .spawn(move || {
            for () in asked {
                make_spare();
            }
        });
    match started {
        Ok(_) => Some(ask),
        Err(e) => {
            tracing::warn!(error = %e, "no thread to make sheets ahead of need: each is made when a fill needs it");
            None
        }
    }
}

/// Asks for a spare; a request already waiting stands for this one.
fn ask_for_spare() {
    if let Some(maker) = MAKER.as_ref() {
        let _ = maker.try_send(());
    }
}

/// The first fill to begin asks for the first sheet: a fill completes
/// milliseconds later at the soonest, by when it is made. (Not earlier than a
/// fill: the thread that makes sheets has to be started in the process that
/// serves, after a daemon's fork.)
pub fn fill_begins() {
    static ASKED: AtomicBool = AtomicBool::new(false);
    if !ASKED.load(Ordering::Relaxed) && !ASKED.swap(true, Ordering::Relaxed) {
        ask_for_spare();
    }
}

fn make_spare() {
    let mut spare = SPARE.lock();
    if spare.sheet.is_some() || spare.making {
        return;
    }
    spare.making = true;
    drop(spare);
    let made = make();
    let mut spare = SPARE.lock();
    spare.making = false;
    let refused = match made {
        Ok(Some(sheet)) => {
            spare.sheet = Some(sheet);
            SPARE_BYTES.store(SHEET, Ordering::Release);
            None
        }
        // the bound leaves no room: the next sheet is made when needed, if ever
        Ok(None) => None,
        Err(why) => Some(why),
    };
    drop(spare);
    SPARE_MADE.notify_all();
    show();
    if let Some(Refused::Kernel(e)) = refused {
        tracing::debug!(error = %e, "a sheet could not be made ahead of need");
    }
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

/// Sets the gauges from the counts. Serialised: a caller that read the
/// counts before another's change must not set the gauges after it, and
/// every change is followed by a `show`, so the last one reads them current.
fn show() {
    static SHOWING: Mutex<()> = parking_lot::const_mutex(());
    let _one_at_a_time = SHOWING.lock();
    let sheets = SHEET_BYTES.load(Ordering::Acquire);
    let bodies = BODY_BYTES.load(Ordering::Acquire);
    let spare = SPARE_BYTES.load(Ordering::Acquire);
    let gauge = &metrics::SEALED_SHEET_BYTES;
    gauge.with_label_values(&["bodies"]).set(bodies as i64);
    gauge.with_label_values(&["spare"]).set(spare as i64);
    gauge
        .with_label_values(&["slack"])
        .set(sheets.saturating_sub(bodies + spare) as i64);
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
