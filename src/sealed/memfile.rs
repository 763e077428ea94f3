//! One anonymous memory file (`memfd_create`) mapped read-only, whose whole
//! 2 MiB runs are made huge pages before anything is written in them.
//!
//! `sendfile` takes and gives back a reference for every page it puts in a
//! socket, and the reader's copy checks every page fragment: with 4 KiB pages
//! that work was a quarter of the edge's core and of the client's on a
//! segment hit. A 2 MiB page costs it once. The kernel gives shared memory
//! huge pages only when the host asks for it (`shmem_enabled`, `never` by
//! default), but `MADV_COLLAPSE` (Linux 6.1) makes one on request whatever
//! that setting, unless the host says `deny`. It needs at least one page of
//! the run present, so the first byte of each run is written first (a zero,
//! overwritten later), and the file is mapped at a 2 MiB boundary so that its
//! runs line up with the mapping's.
//!
//! This happens before any body is written, so no page of the file can be
//! in a socket yet (the kernel refuses to collapse pages someone else holds).
//! When it is refused (an older kernel, `deny`, no free 2 MiB of memory) the
//! file keeps 4 KiB pages and works the same; the outcome of every run is
//! counted in `hls_edge_sealed_huge_runs_total{result}`.

use std::ffi::CStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::FileExt;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;

use super::{Region, Slot, REGIONS};
use crate::metrics;

/// The size of a huge page, and of the runs given one.
pub const HUGE: usize = 2 * 1024 * 1024;

const NAME: &CStr = c"hls-edge-body";

static REFUSED_LOGGED: AtomicBool = AtomicBool::new(false);

/// A memory file of a fixed length and its read-only mapping, entered in the
/// lookup by address; unmapped and closed when dropped.
pub struct MemFile {
    ptr: NonNull<u8>,
    len: usize,
    file: File,
    _slot: Slot,
}

// SAFETY: the mapping is read-only; bytes are only written (through the
// file) where no reader has been given a slice yet, and it is unmapped only
// in `drop`.
unsafe impl Send for MemFile {}
unsafe impl Sync for MemFile {}

impl MemFile {
    /// A file of `len` bytes (zeros), its whole 2 MiB runs on huge pages when
    /// the kernel agrees; how long that took is observed in
    /// `hls_edge_sealed_file_make_seconds`.
    pub fn create(len: usize, slot: Slot) -> io::Result<MemFile> {
        if len == 0 {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "empty body"));
        }
        let _timer = metrics::SEALED_FILE_MAKE.start_timer();
        // SAFETY: a plain system call with a valid C string.
        let fd = unsafe {
            libc::memfd_create(NAME.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING)
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and is owned by nothing else.
        let file = File::from(unsafe { OwnedFd::from_raw_fd(fd) });
        file.set_len(len as u64)?;
        let runs = len / HUGE;
        for run in 0..runs {
            file.write_all_at(&[0], (run * HUGE) as u64)?;
        }
        let ptr = map(fd, len, runs > 0)?;
        if runs > 0 {
            collapse(ptr, runs);
        }
        REGIONS
            .write()
            .insert(ptr.as_ptr() as usize, Region { len, fd });
        Ok(MemFile {
            ptr,
            len,
            file,
            _slot: slot,
        })
    }

    /// Writes `chunks` from `offset` on. The caller writes each byte once,
    /// before any slice over it is handed out.
    pub fn write_at(&self, chunks: &[Bytes], offset: usize) -> io::Result<()> {
        let mut at = offset;
        for chunk in chunks {
            if at + chunk.len() > self.len {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "body length"));
            }
            self.file.write_all_at(chunk, at as u64)?;
            at += chunk.len();
        }
        Ok(())
    }

    /// Refuses every later write, shrink and growth of the file; the mapping
    /// made before stays.
    pub fn seal(&self) -> io::Result<()> {
        let seals =
            libc::F_SEAL_FUTURE_WRITE | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_SEAL;
        // SAFETY: fcntl on our own descriptor.
        if unsafe { libc::fcntl(self.file.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    pub fn len(&self) -> usize {
        self.len
    }

    /// The mapped bytes `offset..offset + len`.
    pub fn bytes(&self, offset: usize, len: usize) -> &[u8] {
        assert!(offset + len <= self.len, "inside the file");
        // SAFETY: `self.len` readable bytes are mapped at `ptr` until `drop`,
        // and the range is inside them.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().add(offset), len) }
    }

    #[cfg(test)]
    pub fn raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

impl Drop for MemFile {
    fn drop(&mut self) {
        REGIONS.write().remove(&(self.ptr.as_ptr() as usize));
        // SAFETY: the mapping made in `create`, no longer reachable from any slice.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// Maps `len` bytes of `fd` read-only; at a 2 MiB boundary when `aligned`.
fn map(fd: RawFd, len: usize, aligned: bool) -> io::Result<NonNull<u8>> {
    if !aligned {
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
        return Ok(NonNull::new(addr.cast()).expect("mmap never maps address 0"));
    }
    // reserve room for the file plus one huge page, place the file at the
    // first boundary inside, and give the rest of the reservation back
    let span = len + HUGE;
    // SAFETY: an anonymous reservation nothing else refers to.
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            span,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if base == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    let base = base as usize;
    let start = base.next_multiple_of(HUGE);
    // SAFETY: replaces part of our own reservation with the file, read-only.
    let addr = unsafe {
        libc::mmap(
            start as *mut libc::c_void,
            len,
            libc::PROT_READ,
            libc::MAP_SHARED | libc::MAP_FIXED,
            fd,
            0,
        )
    };
    if addr == libc::MAP_FAILED {
        let e = io::Error::last_os_error();
        // SAFETY: the reservation made above.
        unsafe { libc::munmap(base as *mut libc::c_void, span) };
        return Err(e);
    }
    let end = (start + len).next_multiple_of(page_size());
    // SAFETY: the parts of our reservation before and after the file.
    unsafe {
        if start > base {
            libc::munmap(base as *mut libc::c_void, start - base);
        }
        if base + span > end {
            libc::munmap(end as *mut libc::c_void, base + span - end);
        }
    }
    Ok(NonNull::new(addr.cast()).expect("mmap never maps address 0"))
}

fn page_size() -> usize {
    // SAFETY: a plain query.
    let size = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(size).unwrap_or(4096)
}

/// Asks for a huge page for each of the first `runs` runs of the mapping at
/// `ptr`; each run counted, and the first refusal logged.
fn collapse(ptr: NonNull<u8>, runs: usize) {
    for run in 0..runs {
        // SAFETY: an advice over one run of our own mapping, which holds at
        // least `runs * HUGE` bytes.
        let rc = unsafe {
            libc::madvise(
                ptr.as_ptr().add(run * HUGE).cast(),
                HUGE,
                libc::MADV_COLLAPSE,
            )
        };
        let result = if rc == 0 { "huge" } else { "small" };
        metrics::SEALED_HUGE_RUNS.with_label_values(&[result]).inc();
        if rc != 0 && !REFUSED_LOGGED.swap(true, Ordering::Relaxed) {
            tracing::info!(
                error = %io::Error::last_os_error(),
                "the kernel gave a stored body no huge page (MADV_COLLAPSE): such bodies are sent from 4 KiB pages"
            );
        }
    }
}
