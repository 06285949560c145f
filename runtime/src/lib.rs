//! Native runtime of remotemedia, imported in Python as `remotemedia._runtime`.
//!
//! It runs version-1 pipeline manifests on tokio: audio nodes that have a native
//! implementation run in Rust with the GIL released (consecutive ones fused into one
//! task), every other node runs as Python through the Python registry. Frames cross
//! the boundary as numpy arrays without copies.

pub mod api;
pub mod convert;
pub mod endpoint;
pub mod error;
pub mod executor;
pub mod frame;
pub mod manifest;
pub mod nodes;
pub mod py_node;
pub mod simd;

use pyo3::prelude::*;

pub use error::{Error, NodeErrorRecord, Result};

/// The Python module `remotemedia._runtime`.
#[pymodule]
fn _runtime(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("END", api::end_marker(m.py())?.clone_ref(m.py()))?;
    m.add_function(wrap_pyfunction!(api::run_manifest, m)?)?;
    m.add_function(wrap_pyfunction!(api::plan, m)?)?;
    m.add_function(wrap_pyfunction!(api::native_nodes, m)?)?;
    m.add_function(wrap_pyfunction!(api::int16_to_float32, m)?)?;
    m.add_function(wrap_pyfunction!(api::float32_to_int16, m)?)?;
    m.add_function(wrap_pyfunction!(api::_buffer_address, m)?)?;
    m.add_class::<api::StreamExecutor>()?;
    endpoint::register(m)?;
    Ok(())
}
