//! CPU feature checks shared by the SIMD kernels of the nodes.
//!
//! Kernels take the answer once when a stream opens (a plain bool in their state)
//! instead of asking per call, and fall back to portable loops without AVX2+FMA.

/// Whether this CPU runs the `avx2,fma` kernels (always false off x86_64).
pub fn has_avx2_fma() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}
