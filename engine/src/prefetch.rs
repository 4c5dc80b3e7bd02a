//! Software prefetch: ask the CPU to start loading a cache line that will be read soon, so
//! that with many symbols the misses of consecutive records overlap instead of adding up.

/// Prefetches the cache line holding `value` into all cache levels. A hint only: it never
/// faults and changes no state the program can observe.
#[inline(always)]
pub fn read<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        // SAFETY: SSE is part of the x86_64 baseline, so the instruction exists on every
        // CPU this code runs on; a prefetch never dereferences its address architecturally
        // (it cannot fault), and the address comes from a valid reference anyway.
        unsafe { _mm_prefetch::<_MM_HINT_T0>((value as *const T).cast::<i8>()) };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}
