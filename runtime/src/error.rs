//! The runtime's error type and its one mapping to Python exceptions.

use pyo3::prelude::*;
use pyo3::types::PyTuple;

pyo3::import_exception!(remotemedia.core.errors, ManifestError);
pyo3::import_exception!(remotemedia.core.errors, PipelineError);
pyo3::import_exception!(remotemedia.core.errors, RemoteMediaError);

/// Result type used throughout the runtime.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in the runtime.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The manifest is malformed, names an unknown node type or has a bad config.
    #[error("{0}")]
    Manifest(String),
    /// A node failed on one input (only raised when `on_error` is "raise").
    #[error("node '{}' failed: {}: {}", .0.node, .0.error_type, .0.message)]
    Node(Box<NodeErrorRecord>),
    /// An exception raised by Python code (a Python node, a conversion).
    #[error(transparent)]
    Python(#[from] PyErr),
    /// Misuse of the runtime API (pushing to a closed stream, ...).
    #[error("{0}")]
    Runtime(String),
}

impl Error {
    /// Builds a [`Error::Manifest`] from anything printable.
    pub fn manifest(message: impl Into<String>) -> Self {
        Error::Manifest(message.into())
    }
}

impl From<Error> for PyErr {
    fn from(err: Error) -> PyErr {
        match err {
            Error::Manifest(message) => ManifestError::new_err(message),
            Error::Node(record) => Python::attach(|py| match record.to_python(py) {
                Ok(node_error) => PipelineError::new_err((node_error.unbind(),)),
                Err(err) => err,
            }),
            Error::Python(err) => err,
            Error::Runtime(message) => RemoteMediaError::new_err(message),
        }
    }
}

/// A node's failure on one input, the Rust twin of `remotemedia.NodeError`.
///
/// Records flow through the pipeline as values; nodes pass records from upstream
/// through untouched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeErrorRecord {
    /// Name (manifest id) of the node that failed.
    pub node: String,
    /// Exception class name, e.g. "ValueError".
    pub error_type: String,
    /// The error message.
    pub message: String,
    /// Short description of the input that made the node fail.
    pub input_summary: String,
    /// Formatted traceback (Python nodes) or empty.
    pub traceback: String,
}

impl NodeErrorRecord {
    /// Builds the `remotemedia.NodeError` instance for this record.
    pub fn to_python<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let class = py.import("remotemedia.core.errors")?.getattr("NodeError")?;
        let args = PyTuple::new(
            py,
            [
                &self.node,
                &self.error_type,
                &self.message,
                &self.input_summary,
                &self.traceback,
            ],
        )?;
        class.call1(args)
    }

    /// Reads a record from a `remotemedia.NodeError` instance.
    pub fn from_python(error: &Bound<'_, PyAny>) -> PyResult<Self> {
        let text = |name: &str| -> PyResult<String> { error.getattr(name)?.extract() };
        Ok(NodeErrorRecord {
            node: text("node")?,
            error_type: text("error_type")?,
            message: text("message")?,
            input_summary: text("input_summary")?,
            traceback: text("traceback")?,
        })
    }
}

/// A native node's failure, before the executor adds the node name and input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeFailure {
    /// Python exception class name the failure maps to ("ValueError", "TypeError").
    pub error_type: &'static str,
    /// Message naming the parameter or the input at fault.
    pub message: String,
}

impl NodeFailure {
    /// A bad parameter or a bad value.
    pub fn value(message: impl Into<String>) -> Self {
        NodeFailure {
            error_type: "ValueError",
            message: message.into(),
        }
    }

    /// An input of the wrong type.
    pub fn type_error(message: impl Into<String>) -> Self {
        NodeFailure {
            error_type: "TypeError",
            message: message.into(),
        }
    }
}

impl std::fmt::Display for NodeFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error_type, self.message)
    }
}
