//! Recycled read buffers: the memory of large remote reads
//! (`_mmpk.pooled_bytes`), kept for the next read of the same size once
//! every array over it is gone.
//!
//! A fresh allocation of tens of MiB costs a page fault per page on first
//! write (the kernel zeroes each page), which on a loaded or virtualised
//! machine costs as much as receiving the bytes. A dask worker reading
//! chunk after chunk of one size frees one chunk's array and allocates the
//! next: the freed block is handed back instead, its pages already there.
//! The pool holds at most [`MAX_FREE_BLOCKS`] free blocks and
//! [`MAX_FREE_BYTES`] in all, per process; a block is reused only for a
//! read of exactly its size.

use std::sync::Mutex;

use numpy::npyffi::npy_intp;
use numpy::{Element, PyArrayDescr};
use pyo3::exceptions::{PyMemoryError, PyValueError};
use pyo3::prelude::*;

use crate::arrays::{self, Base};

/// Free blocks kept at most.
pub(crate) const MAX_FREE_BLOCKS: usize = 4;
/// Bytes of free blocks kept at most.
pub(crate) const MAX_FREE_BYTES: usize = 256 << 20;
/// Alignment of a block (a cache line: numpy's SIMD loops like it).
const ALIGN: usize = 64;

/// A heap block of `len` initialised (zeroed) bytes, owned by whoever
/// holds it: freed on drop.
struct Block {
    ptr: std::ptr::NonNull<u8>,
    len: usize,
}

// SAFETY: a `Block` is the sole owner of its allocation, like a
// `Box<[u8]>`, which is `Send` and `Sync`; the pointer is shared with
// nothing but the numpy array built over the block while its
// `PooledBuffer` lives (see `pooled_bytes`).
unsafe impl Send for Block {}
// SAFETY: as above; `Block` has no method that reads or writes the bytes.
unsafe impl Sync for Block {}

impl Block {
    /// A new zeroed block (`calloc`: for a large block no page is touched
    /// yet), or `None` if it cannot be allocated.
    fn new(len: usize) -> Option<Block> {
        if len == 0 {
            return Some(Block {
                ptr: std::ptr::NonNull::dangling(),
                len,
            });
        }
        let layout = std::alloc::Layout::from_size_align(len, ALIGN).ok()?;
        // SAFETY: `layout` has a non-zero size.
        let p = unsafe { std::alloc::alloc_zeroed(layout) };
        std::ptr::NonNull::new(p).map(|ptr| Block { ptr, len })
    }
}

impl Drop for Block {
    fn drop(&mut self) {
        if self.len == 0 {
            return;
        }
        // SAFETY: `ptr` was allocated by `Block::new` with this very layout
        // (`len` > 0 bytes aligned to `ALIGN`, which `Block::new` checked is
        // a valid layout), and is freed only here, once.
        unsafe {
            std::alloc::dealloc(
                self.ptr.as_ptr(),
                std::alloc::Layout::from_size_align_unchecked(self.len, ALIGN),
            )
        };
    }
}

/// The free blocks, most recently freed last.
static FREE: Mutex<Vec<Block>> = Mutex::new(Vec::new());

/// A free block of exactly `len` bytes, if the pool has one. Never waits:
/// a busy pool (or one left locked by a `fork`) is treated as empty.
fn take(len: usize) -> Option<Block> {
    let mut free = FREE.try_lock().ok()?;
    let i = free.iter().rposition(|b| b.len == len)?;
    Some(free.remove(i))
}

/// Hands `b` back to the pool, dropping the oldest free blocks to stay
/// within the bounds (a block larger than them is freed at once).
fn give(b: Block) {
    if b.len > MAX_FREE_BYTES {
        return;
    }
    let Ok(mut free) = FREE.try_lock() else {
        return;
    };
    free.push(b);
    while free.len() > MAX_FREE_BLOCKS || free.iter().map(|b| b.len).sum::<usize>() > MAX_FREE_BYTES
    {
        free.remove(0);
    }
}

/// The base object of a pooled array: owns the block and hands it back to
/// the pool when the last array over it is gone.
#[pyclass(module = "mmpk._mmpk", name = "PooledBuffer", frozen)]
pub(crate) struct PooledBuffer {
    block: Mutex<Option<Block>>,
}

impl Drop for PooledBuffer {
    fn drop(&mut self) {
        let b = self
            .block
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(b) = b {
            give(b);
        }
    }
}

impl PooledBuffer {
    /// The block's pointer and length (`len` 0 once dropped, which cannot
    /// be seen while it lives).
    pub(crate) fn bytes(&self) -> (*mut u8, usize) {
        let b = self.block.lock().unwrap_or_else(|p| p.into_inner());
        b.as_ref()
            .map_or((std::ptr::NonNull::dangling().as_ptr(), 0), |b| {
                (b.ptr.as_ptr(), b.len)
            })
    }
}

#[pymethods]
impl PooledBuffer {
    fn __repr__(&self) -> String {
        let n = self
            .block
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map_or(0, |b| b.len);
        format!("<mmpk.PooledBuffer of {n} bytes>")
    }
}

/// `(free blocks, their bytes)` in this process's pool.
#[pyfunction]
pub(crate) fn pool_stats() -> (usize, usize) {
    match FREE.lock() {
        Ok(f) => (f.len(), f.iter().map(|b| b.len).sum()),
        Err(_) => (0, 0),
    }
}

/// A new writable, C-contiguous 1-D `uint8` array of `nbytes` bytes whose
/// memory is a recycled block of the same size when the pool has one
/// (its bytes are those of an earlier read: the caller overwrites them),
/// else a new zeroed block. The block goes back to the pool when the array
/// and every view of it are gone. `MemoryError` if it cannot be allocated.
#[pyfunction]
pub(crate) fn pooled_bytes(py: Python<'_>, nbytes: usize) -> PyResult<Bound<'_, PyAny>> {
    let mut dims = [npy_intp::try_from(nbytes)
        .map_err(|_| PyValueError::new_err(format!("{nbytes} bytes: too large for numpy")))?];
    let block = match take(nbytes) {
        Some(b) => b,
        None => py
            .detach(|| Block::new(nbytes))
            .ok_or_else(|| PyMemoryError::new_err(format!("cannot allocate {nbytes} bytes")))?,
    };
    let owner = Bound::new(
        py,
        PooledBuffer {
            block: Mutex::new(Some(block)),
        },
    )?;
    let descr: Bound<'_, PyArrayDescr> = u8::get_dtype(py);
    arrays::hand_off(py, descr, &mut dims, Base::Pooled(owner), true)
}
