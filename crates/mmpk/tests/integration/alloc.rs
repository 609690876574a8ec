//! A per-thread counting global allocator for the integration tests: the
//! hostile-file suite measures the peak heap each input costs. Counting is
//! per thread, so tests running in parallel do not disturb each other. The
//! allocator lives in `mmpk-test-support`; a test binary must install it.

pub use mmpk_test_support::alloc::peak_of;

#[global_allocator]
static ALLOC: mmpk_test_support::alloc::Counting = mmpk_test_support::alloc::Counting;
