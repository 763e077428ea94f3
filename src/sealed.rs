//! Stored bodies kept in sealed memory files, so that a plaintext connection
//! can send them with `sendfile` instead of copying them into the socket.
//!
//! A body of at least [`SEAL_MIN`] bytes is written once, when its fill
//! completes, into an anonymous memory file (`memfd_create`), sealed against
//! every later change (`F_SEAL_WRITE`, `F_SEAL_SHRINK`, `F_SEAL_GROW`) and
//! mapped read-only. The cache holds it as an ordinary `Bytes` over that
//! mapping, so every reader (TLS, HTTP/2, range slices, the playlist rewriter)
//! sees plain memory. When a plaintext HTTP/1 connection is asked to write a
//! slice of such a mapping, it sends the same bytes from the file instead
//! (`connections::sendfile`): the kernel puts the file's pages in the socket
//! without copying them from user memory. That copy was 39 % of the edge's CPU
//! on a 750 KB segment hit.
//!
//! The seals make this safe: the pages can never change, and a page still
//! queued in a socket when its object is evicted stays the kernel's until sent.
//!
//! Each sealed body holds one open file. They are limited to half the
//! process's open-file limit (which `raise_open_file_limit` lifts to its hard
//! limit at start); past that, or when the kernel refuses, a body is kept in
//! ordinary memory and counted in `hls_edge_sealed_fallbacks_total{reason}`.

use std::collections::BTreeMap;
use std::ffi::CStr;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use bytes::Bytes;
use once_cell::sync::Lazy;
use parking_lot::RwLock;

use crate::metrics;

/// Bodies smaller than this stay in ordinary memory: their copy into the
/// socket is cheap, and a file would cost a descriptor and a page at least.
pub const SEAL_MIN: usize = 64 * 1024;

const NAME: &CStr = c"hls-edge-body";

/// The mapped bodies, by start address: what `source_of` looks a buffer up in.
static REGIONS: RwLock<BTreeMap<usize, Region>> = parking_lot::const_rwlock(BTreeMap::new());

/// Sealed bodies held now, and how many may be.
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
    /// Half the open-file limit is held by sealed bodies already.
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

/// The body's bytes in a sealed file of their own, as `Bytes` over its
/// read-only mapping. `chunks` hold `len` bytes in all.
/// A fallback is counted in `hls_edge_sealed_fallbacks_total{reason}`; the
/// first of each kind is logged.
pub fn seal(chunks: &[Bytes], len: usize) -> Result<Bytes, Fallback> {
    let Some(slot) = Slot::take() else {
        if !BUDGET_WARNED.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                sealed_bodies = *LIMIT,
                "half the open-file limit is held by sealed bodies: further bodies are kept in ordinary memory (raise the hard limit, `ulimit -Hn`)"
            );
        }
        return Err(counted(Fallback::Budget));
    };
    let body = SealedBody::write(chunks, len, slot).map_err(|e| {
        if !KERNEL_WARNED.swap(true, Ordering::Relaxed) {
            tracing::warn!(error = %e, bytes = len, "a stored body could not be sealed in a memory file: such bodies are kept in ordinary memory and copied into sockets");
        }
        counted(Fallback::Kernel)
    })?;
    Ok(Bytes::from_owner(body))
}

fn counted(why: Fallback) -> Fallback {
    metrics::SEALED_FALLBACKS
        .with_label_values(&[why.label()])
        .inc();
    why
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
/// word): with `within_size` (or `always`) a body's whole 2 MiB runs take
/// one page each, which `sendfile` hands to the socket for a fraction of the
/// per-page work. `None` where the kernel has no such file.
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

/// One place in the budget, given back when dropped.
struct Slot;

impl Slot {
    fn take() -> Option<Slot> {
        HELD.fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
            (held < *LIMIT).then_some(held + 1)
        })
        .ok()?;
        metrics::SEALED_BODIES.inc();
        Some(Slot)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        HELD.fetch_sub(1, Ordering::AcqRel);
        metrics::SEALED_BODIES.dec();
    }
}

/// A sealed file and its read-only mapping; unmapped and closed when the
/// last `Bytes` over it drops.
struct SealedBody {
    ptr: NonNull<u8>,
    len: usize,
    _file: OwnedFd,
    _slot: Slot,
}

// SAFETY: the mapping is read-only and sealed, so it never changes and may be
// read from any thread; it is unmapped only in `drop`.
unsafe impl Send for SealedBody {}
unsafe impl Sync for SealedBody {}

impl SealedBody {
    fn write(chunks: &[Bytes], len: usize, slot: Slot) -> io::Result<SealedBody> {
        if len == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty body"));
        }
        // SAFETY: a plain system call with a valid C string.
        let fd = unsafe {
            libc::memfd_create(NAME.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING)
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and is owned by nothing else.
        let mut file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
        // Sized before the first write: a host whose shared memory may use
        // huge pages within a file's size (`shmem_enabled: within_size`)
        // then gives each whole 2 MiB of the body one page, where chunk by
        // chunk every write would find the file too short for one.
        file.set_len(len as u64)?;
        let mut written = 0;
        for chunk in chunks {
            file.write_all(chunk)?;
            written += chunk.len();
        }
        if written != len {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "body length"));
        }
        let seals =
            libc::F_SEAL_WRITE | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;
        // SAFETY: fcntl on our own descriptor.
        if unsafe { libc::fcntl(fd, libc::F_ADD_SEALS, seals) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: maps `len` bytes of a file that holds exactly `len`, read-only.
        let addr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ,
                libc::MAP_SHARED,
                fd,
                0,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(addr.cast::<u8>()).expect("mmap never maps address 0");
        REGIONS.write().insert(
            ptr.as_ptr() as usize,
            Region {
                len,
                fd: file.as_raw_fd(),
            },
        );
        Ok(SealedBody {
            ptr,
            len,
            _file: OwnedFd::from(file),
            _slot: slot,
        })
    }
}

impl AsRef<[u8]> for SealedBody {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `len` readable bytes are mapped at `ptr` until `drop`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for SealedBody {
    fn drop(&mut self) {
        REGIONS.write().remove(&(self.ptr.as_ptr() as usize));
        // SAFETY: the mapping made in `write`, no longer reachable from any slice.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    #[test]
    fn a_sealed_body_reads_as_written_and_is_found_by_address() {
        let data = body(3 * SEAL_MIN + 5);
        let chunks = [
            Bytes::copy_from_slice(&data[..1000]),
            Bytes::copy_from_slice(&data[1000..]),
        ];
        let sealed = seal(&chunks, data.len()).expect("sealed");
        assert_eq!(&sealed[..], &data[..]);

        let (fd, offset) = source_of(&sealed).expect("found");
        assert_eq!(offset, 0);
        let range = sealed.slice(70_000..80_000);
        let (fd_of_range, offset) = source_of(&range).expect("a slice is found too");
        assert_eq!((fd_of_range, offset), (fd, 70_000));

        // the file holds the same bytes, and cannot be changed
        let mut first = [0u8; 16];
        // SAFETY: reads into a valid buffer from an open descriptor.
        let n = unsafe { libc::pread(fd, first.as_mut_ptr().cast(), 16, 70_000) };
        assert_eq!(n, 16);
        assert_eq!(&first, &data[70_000..70_016]);
        // SAFETY: a write attempt on an open descriptor, refused by the seal.
        let w = unsafe { libc::pwrite(fd, b"x".as_ptr().cast(), 1, 0) };
        assert_eq!(w, -1, "the seal refuses writes");
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
        let sealed = seal(&[Bytes::from(body(SEAL_MIN))], SEAL_MIN).expect("sealed");
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
    }
}
