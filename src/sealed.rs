//! Stored bodies kept in sealed memory files, so that a plaintext connection
//! can send them with `sendfile` instead of copying them into the socket.
//!
//! A body of at least [`SEAL_MIN`] bytes is written once, when its fill
//! completes, into an anonymous memory file (`memfd_create`, `memfile`)
//! mapped read-only: a body under 2 MiB into a 4 MiB file shared with the
//! bodies stored just before and after it (`sheet`), a larger one into a
//! file of its own. The files' whole 2 MiB runs are huge pages where the
//! kernel agrees (`MADV_COLLAPSE`, whatever the host's `shmem_enabled`
//! short of `deny`). The cache holds a body as an ordinary `Bytes` over its
//! place in the mapping, so every reader (TLS, HTTP/2, range slices, the
//! playlist rewriter) sees plain memory. When a plaintext HTTP/1 connection
//! is asked to write a slice of such a mapping, it sends the same bytes from
//! the file instead (`connections::sendfile`): the kernel puts the file's
//! pages in the socket without copying them from user memory. That copy was
//! 39 % of the edge's CPU on a 750 KB segment hit; with 4 KiB pages the
//! kernel's work for each page was most of what remained.
//!
//! Every byte of a file is written once, before any slice over it is handed
//! out, and a file is sealed once written (`F_SEAL_FUTURE_WRITE`,
//! `F_SEAL_SHRINK`, `F_SEAL_GROW`): the pages never change, and a page still
//! queued in a socket when its file is closed stays the kernel's until sent.
//! A file is only ever freed whole, never in part.
//!
//! Each file holds one open descriptor. They are limited to half the
//! process's open-file limit (which `raise_open_file_limit` lifts to its hard
//! limit at start); past that, or when the kernel refuses, a body is kept in
//! ordinary memory and counted in `hls_edge_sealed_fallbacks_total{reason}`.

mod memfile;
mod sheet;

use std::collections::BTreeMap;
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use once_cell::sync::Lazy;
use parking_lot::RwLock;

use crate::metrics;
use memfile::MemFile;
use sheet::Sheet;

pub use sheet::{fill_begins, set_cache_size};

/// Bodies smaller than this stay in ordinary memory: their copy into the
/// socket is cheap.
pub const SEAL_MIN: usize = 64 * 1024;

/// The mapped files, by start address: what `source_of` looks a buffer up in.
static REGIONS: RwLock<BTreeMap<usize, Region>> = parking_lot::const_rwlock(BTreeMap::new());

/// Files held now, and how many may be.
static HELD: AtomicUsize = AtomicUsize::new(0);
static LIMIT: Lazy<usize> = Lazy::new(|| open_file_limit().map_or(0, |(soft, _)| soft / 2));
static BUDGET_WARNED: AtomicBool = AtomicBool::new(false);
static KERNEL_WARNED: AtomicBool = AtomicBool::new(false);

#[derive(Debug, Clone, Copy)]
struct Region {
    len: usize,
    fd: RawFd,
}

/// Why a body was kept in ordinary memory (the `reason` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fallback {
    /// Half the open-file limit is held by sealed files already.
    Budget,
    /// `memfd_create`, the write, the seals or `mmap` failed.
    Kernel,
}

impl Fallback {
    pub fn label(self) -> &'static str {
        match self {
            Fallback::Budget => "budget",
            Fallback::Kernel => "kernel",
        }
    }
}

/// Why a file could not take a body, before it is counted.
enum Refused {
    Budget,
    Kernel(io::Error),
}

/// The body's bytes in a sealed file, as `Bytes` over their place in its
/// read-only mapping. `chunks` hold `len` bytes in all.
/// A fallback is counted in `hls_edge_sealed_fallbacks_total{reason}`; the
/// first of each kind is logged.
pub fn seal(chunks: &[Bytes], len: usize) -> Result<Bytes, Fallback> {
    let placed = if chunks.iter().map(Bytes::len).sum::<usize>() != len {
        Err(Refused::Kernel(io::Error::new(
            io::ErrorKind::InvalidData,
            "body length",
        )))
    } else if len < sheet::PACK_BELOW {
        match sheet::pack(chunks, len) {
            Ok(Some(body)) => Ok(body),
            Ok(None) => own_file(chunks, len),
            Err(why) => Err(why),
        }
    } else {
        own_file(chunks, len)
    };
    placed.map_err(|why| match why {
        Refused::Budget => {
            if !BUDGET_WARNED.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    sealed_files = *LIMIT,
                    "half the open-file limit is held by sealed files: further bodies are kept in ordinary memory (raise the hard limit, `ulimit -Hn`)"
                );
            }
            counted(Fallback::Budget)
        }
        Refused::Kernel(e) => {
            if !KERNEL_WARNED.swap(true, Ordering::Relaxed) {
                tracing::warn!(error = %e, bytes = len, "a stored body could not be sealed in a memory file: such bodies are kept in ordinary memory and copied into sockets");
            }
            counted(Fallback::Kernel)
        }
    })
}

/// A file of the body's own size (`chunks` hold `len` bytes), written and
/// sealed.
fn own_file(chunks: &[Bytes], len: usize) -> Result<Bytes, Refused> {
    let slot = Slot::take().ok_or(Refused::Budget)?;
    let file = MemFile::create(len, slot).map_err(Refused::Kernel)?;
    file.write_at(chunks, 0).map_err(Refused::Kernel)?;
    file.seal().map_err(Refused::Kernel)?;
    Ok(Bytes::from_owner(Body::new(Backing::Own(file), 0, len)))
}

fn counted(why: Fallback) -> Fallback {
    metrics::SEALED_FALLBACKS
        .with_label_values(&[why.label()])
        .inc();
    why
}

/// One stored body: its place in a file it has to itself or shares in a
/// sheet. The file is closed when its last body drops.
struct Body {
    file: Backing,
    offset: usize,
    len: usize,
}

enum Backing {
    Own(MemFile),
    Sheet(Arc<Sheet>),
}

impl Body {
    /// Counted in `hls_edge_sealed_bodies` while it lives.
    fn new(file: Backing, offset: usize, len: usize) -> Body {
        metrics::SEALED_BODIES.inc();
        Body { file, offset, len }
    }
}

impl AsRef<[u8]> for Body {
    fn as_ref(&self) -> &[u8] {
        let file = match &self.file {
            Backing::Own(file) => file,
            Backing::Sheet(sheet) => sheet.file(),
        };
        file.bytes(self.offset, self.len)
    }
}

impl Drop for Body {
    fn drop(&mut self) {
        metrics::SEALED_BODIES.dec();
        if matches!(self.file, Backing::Sheet(_)) {
            sheet::dropped(self.len);
        }
    }
}

/// The sealed file holding `buf` and the offset of `buf` in it, when `buf`
/// lies inside a sealed body's mapping.
///
/// The borrow keeps the answer valid: a mapping is removed from the lookup
/// before it is unmapped, which only happens once no `Bytes` (hence no
/// slice) over it is left, so the file stays open while `buf` lives.
pub fn source_of(buf: &[u8]) -> Option<(RawFd, u64)> {
    let addr = buf.as_ptr() as usize;
    let regions = REGIONS.read();
    let (&start, region) = regions.range(..=addr).next_back()?;
    let end = addr.checked_add(buf.len())?;
    (end <= start + region.len).then(|| (region.fd, (addr - start) as u64))
}

/// Lifts the soft open-file limit to the hard one (each sealed body and each
/// connection holds one file). Returns the limit now in force.
pub fn raise_open_file_limit() -> io::Result<u64> {
    let (soft, hard) = open_file_limit()?;
    if soft >= hard {
        return Ok(soft as u64);
    }
    let wanted = libc::rlimit {
        rlim_cur: hard as libc::rlim_t,
        rlim_max: hard as libc::rlim_t,
    };
    // SAFETY: a plain system call on a valid struct.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &wanted) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(hard as u64)
}

/// The host's setting for huge pages in shared memory, which sealed files
/// are (`/sys/kernel/mm/transparent_hugepage/shmem_enabled`, the bracketed
/// word): every setting but `deny` lets the edge ask for them (`memfile`).
/// `None` where the kernel has no such file.
pub fn host_huge_pages() -> Option<String> {
    let setting =
        std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/shmem_enabled").ok()?;
    bracketed(&setting).map(str::to_owned)
}

/// The word in brackets in a sysfs choice list (`always [never] deny`).
fn bracketed(choices: &str) -> Option<&str> {
    let (_, rest) = choices.split_once('[')?;
    rest.split_once(']').map(|(word, _)| word)
}

fn open_file_limit() -> io::Result<(usize, usize)> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a plain system call writing into a valid struct.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let clamp = |v: libc::rlim_t| usize::try_from(v).unwrap_or(usize::MAX);
    Ok((clamp(limit.rlim_cur), clamp(limit.rlim_max)))
}

/// One file's place in the budget, given back when dropped.
struct Slot;

impl Slot {
    fn take() -> Option<Slot> {
        HELD.fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
            (held < *LIMIT).then_some(held + 1)
        })
        .ok()?;
        metrics::SEALED_FILES.inc();
        Some(Slot)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        HELD.fetch_sub(1, Ordering::AcqRel);
        metrics::SEALED_FILES.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::memfile::HUGE;
    use super::*;

    fn body(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    fn pread(fd: RawFd, at: u64, len: usize) -> Vec<u8> {
        let mut buf = vec![0u8; len];
        // SAFETY: reads into a valid buffer from an open descriptor.
        let n = unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), len, at as libc::off_t) };
        assert_eq!(n, len as isize);
        buf
    }

    /// Kilobytes of the mapping starting at `start` mapped with huge pages
    /// (`ShmemPmdMapped` in /proc/self/smaps).
    fn huge_mapped_kb(start: usize) -> u64 {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let head = format!("{start:x}-");
        let mut lines = smaps.lines().skip_while(|l| !l.starts_with(&head));
        assert!(lines.next().is_some(), "the mapping is listed");
        // every mapping has the field: the first one after the head is this one's
        lines
            .find_map(|l| l.strip_prefix("ShmemPmdMapped:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }

    #[test]
    fn a_packed_body_reads_as_written_and_is_found_by_address() {
        let data = body(3 * SEAL_MIN + 5);
        let chunks = [
            Bytes::copy_from_slice(&data[..1000]),
            Bytes::copy_from_slice(&data[1000..]),
        ];
        let sealed = seal(&chunks, data.len()).expect("sealed");
        assert_eq!(&sealed[..], &data[..]);

        let (fd, offset) = source_of(&sealed).expect("found");
        let range = sealed.slice(70_000..80_000);
        let (fd_of_range, range_offset) = source_of(&range).expect("a slice is found too");
        assert_eq!((fd_of_range, range_offset), (fd, offset + 70_000));
        // the file holds the same bytes where the lookup says
        assert_eq!(pread(fd, range_offset, 16), &data[70_000..70_016]);

        // the next body goes after it in the same sheet, or into a new one
        let next = seal(&[Bytes::from(body(SEAL_MIN))], SEAL_MIN).expect("sealed");
        let (next_fd, next_offset) = source_of(&next).expect("found");
        assert!(next_fd != fd || next_offset >= offset + data.len() as u64);
        assert_eq!(&sealed[..], &data[..], "unchanged by its neighbour");
    }

    #[test]
    fn a_large_body_has_a_sealed_file_of_its_own_on_huge_pages() {
        let data = body(2 * HUGE + 12_345);
        let small_before = metrics::SEALED_HUGE_RUNS
            .with_label_values(&["small"])
            .get();
        let sealed = seal(&[Bytes::copy_from_slice(&data)], data.len()).expect("sealed");
        assert!(sealed[..] == data[..]);
        let (fd, offset) = source_of(&sealed).expect("found");
        assert_eq!(offset, 0, "a file of its own");
        assert_eq!(
            pread(fd, 3 * HUGE as u64 / 2, 16),
            &data[3 * HUGE / 2..][..16]
        );
        // SAFETY: a write attempt on an open descriptor, refused by the seal.
        let w = unsafe { libc::pwrite(fd, b"x".as_ptr().cast(), 1, 0) };
        assert_eq!(w, -1, "the seal refuses writes");

        let start = sealed.as_ptr() as usize;
        assert_eq!(start % HUGE, 0, "mapped at a huge page boundary");
        let huge = huge_mapped_kb(start);
        let refused = metrics::SEALED_HUGE_RUNS
            .with_label_values(&["small"])
            .get()
            > small_before;
        // both runs on huge pages, unless the kernel refused (and it was counted)
        assert!(
            huge == 2 * HUGE as u64 / 1024 || refused,
            "{huge} kB on huge pages, no refusal counted"
        );
    }

    #[test]
    fn the_hosts_choice_is_the_bracketed_word() {
        assert_eq!(
            bracketed("always within_size advise [never] deny force\n"),
            Some("never")
        );
        assert_eq!(bracketed("[within_size] never"), Some("within_size"));
        assert_eq!(bracketed("always never"), None);
    }

    #[test]
    fn memory_outside_any_mapping_is_not_found() {
        let plain = Bytes::from(body(SEAL_MIN));
        assert!(source_of(&plain).is_none());
        let sealed = seal(&[Bytes::from(body(HUGE))], HUGE).expect("sealed");
        let start = sealed.as_ptr() as usize;
        drop(sealed);
        // gone from the lookup once its last Bytes dropped
        let regions = REGIONS.read();
        assert!(!regions.contains_key(&start));
    }

    #[test]
    fn a_length_that_does_not_match_is_refused() {
        let chunks = [Bytes::from(body(SEAL_MIN))];
        assert_eq!(seal(&chunks, SEAL_MIN + 1), Err(Fallback::Kernel));
        assert_eq!(seal(&chunks, SEAL_MIN - 1), Err(Fallback::Kernel));
        let large = [Bytes::from(body(HUGE))];
        assert_eq!(seal(&large, HUGE + 1), Err(Fallback::Kernel));
    }
}
