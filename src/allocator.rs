//! The process's allocator: mimalloc, asked the way it answers fastest.
//!
//! The `mimalloc` crate's `GlobalAlloc` passes every allocation to
//! `mi_malloc_aligned`, even when the alignment is the ordinary one. mimalloc 3
//! serves such a request of more than 1 KiB whose size is not a power of two by
//! over-allocating and marking the page as holding interior pointers, which
//! makes the allocation and every later free on that page slower. Pingora
//! allocates several such blocks per request (the 16 KB state of each
//! request, read buffers, stored bodies): about half of the allocator's
//! instructions per playlist hit went there (docs/performance.md).
//!
//! [`EdgeAllocator`] asks for an ordinary alignment with plain `mi_malloc`, as
//! the standard library's system allocator does with `malloc`: every mimalloc
//! block larger than one word is a multiple of 16 bytes from a 16-byte aligned
//! page start, and a one-word block is word aligned. Larger alignments still go
//! to `mi_malloc_aligned`. `mi_free` and `mi_realloc` take blocks from either.

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys as mi;

/// The alignment every `mi_malloc` block of at least this size has
/// (`MI_MAX_ALIGN_SIZE`, the alignment of C's `max_align_t` on x86-64 and
/// aarch64).
const PLAIN_ALIGN: usize = 16;

// the two-word rounding of mimalloc's size classes that `PLAIN_ALIGN` relies
// on is that of 64-bit targets
const _: () = assert!(usize::BITS == 64, "EdgeAllocator assumes a 64-bit target");

/// mimalloc with ordinary alignments served by `mi_malloc`.
pub struct EdgeAllocator;

/// Whether `mi_malloc(size)` already returns memory aligned to `align`.
fn plain(align: usize, size: usize) -> bool {
    align <= PLAIN_ALIGN && align <= size
}

/// `plain_alloc(size)` for an ordinary alignment, else
/// `aligned_alloc(size, align)`.
///
/// # Safety
/// As `GlobalAlloc::alloc`: `layout` has a non-zero size.
#[inline]
unsafe fn allocate(
    layout: Layout,
    plain_alloc: unsafe extern "C" fn(usize) -> *mut c_void,
    aligned_alloc: unsafe extern "C" fn(usize, usize) -> *mut c_void,
) -> *mut u8 {
    if plain(layout.align(), layout.size()) {
        plain_alloc(layout.size()).cast()
    } else {
        aligned_alloc(layout.size(), layout.align()).cast()
    }
}

// SAFETY: every pointer comes from mimalloc and goes back to it; `plain` only
// sends mimalloc's unaligned entry points the layouts whose alignment its
// blocks always have (see the module documentation).
unsafe impl GlobalAlloc for EdgeAllocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        allocate(layout, mi::mi_malloc, mi::mi_malloc_aligned)
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        allocate(layout, mi::mi_zalloc, mi::mi_zalloc_aligned)
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        mi::mi_free(ptr.cast::<c_void>());
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if plain(layout.align(), new_size) {
            mi::mi_realloc(ptr.cast::<c_void>(), new_size).cast()
        } else {
            mi::mi_realloc_aligned(ptr.cast::<c_void>(), new_size, layout.align()).cast()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every size class up to 64 KiB and past it, each alignment up to 4 KiB:
    /// the block is aligned, writable over its whole size, and survives a
    /// realloc with its contents.
    #[test]
    fn blocks_have_the_alignment_asked_for() {
        let sizes = (1..=300).chain((301..70_000).step_by(97)).chain([
            1024,
            1025,
            4096,
            16_816,
            65_536,
            1 << 20,
        ]);
        for size in sizes {
            for align in [1, 2, 4, 8, 16, 32, 64, 4096] {
                let layout = Layout::from_size_align(size, align).unwrap();
                // SAFETY: a non-zero size; freed with the layout it was made with
                unsafe {
                    let p = EdgeAllocator.alloc(layout);
                    assert!(!p.is_null());
                    assert_eq!(p as usize % align, 0, "size {size} align {align}");
                    p.write_bytes(0xa5, size);
                    let grown = size * 3 / 2 + 1;
                    let q = EdgeAllocator.realloc(p, layout, grown);
                    assert_eq!(q as usize % align, 0, "realloc to {grown} align {align}");
                    assert!(std::slice::from_raw_parts(q, size)
                        .iter()
                        .all(|b| *b == 0xa5));
                    EdgeAllocator.dealloc(q, Layout::from_size_align(grown, align).unwrap());

                    let z = EdgeAllocator.alloc_zeroed(layout);
                    assert_eq!(z as usize % align, 0);
                    assert!(std::slice::from_raw_parts(z, size).iter().all(|b| *b == 0));
                    EdgeAllocator.dealloc(z, layout);
                }
            }
        }
    }
}
