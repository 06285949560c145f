//! Python <-> runtime values. Audio samples cross without copies: a C-contiguous
//! float32 `AudioFrame.samples` is read in place through a `PyReadonlyArray` view,
//! and samples computed in Rust become numpy arrays that own the Rust `Vec`.

use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray2, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyType};

use crate::error::NodeErrorRecord;
use crate::frame::{Audio, NumpyView, Samples, Spectrogram, Value};

static AUDIO_FRAME: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static NODE_ERROR: PyOnceLock<Py<PyType>> = PyOnceLock::new();
static SPECTROGRAM: PyOnceLock<Py<PyType>> = PyOnceLock::new();

fn audio_frame_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    AUDIO_FRAME.import(py, "remotemedia.core.frames", "AudioFrame")
}

fn node_error_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    NODE_ERROR.import(py, "remotemedia.core.errors", "NodeError")
}

fn spectrogram_type(py: Python<'_>) -> PyResult<&Bound<'_, PyType>> {
    SPECTROGRAM.import(py, "remotemedia.nodes.features", "Spectrogram")
}

/// Reads the samples of a float32 `(channels, n)` numpy array without copying
/// when it is C-contiguous (copying otherwise).
pub fn samples_from_numpy(array: &Bound<'_, PyAny>) -> PyResult<(Samples, usize)> {
    let array = array.cast::<PyArray2<f32>>().map_err(|_| {
        pyo3::exceptions::PyTypeError::new_err(
            "AudioFrame.samples must be a float32 numpy array shaped (channels, n)",
        )
    })?;
    let channels = array.shape()[0];
    if array.is_c_contiguous() {
        // Not through numpy's borrow registry (a global table, ~0.5 us per frame
        // under the GIL, which many streams share): the view is read-only and
        // Python code mutating a frame while the runtime reads it races either
        // way (see NumpyView).
        // SAFETY: the array is C-contiguous float32 (checked), so this is its own
        // buffer; the view holds a reference to the array, keeping it alive.
        let slice = unsafe { array.as_slice() }.map_err(|e| {
            pyo3::exceptions::PyValueError::new_err(format!("AudioFrame.samples: {e}"))
        })?;
        let (ptr, len) = (slice.as_ptr(), slice.len());
        // SAFETY: as above.
        let view = unsafe { NumpyView::new(array.clone().into_any().unbind(), ptr, len) };
        return Ok((Samples::Shared(std::sync::Arc::new(view)), channels));
    }
    let copied: Vec<f32> = array.try_readonly()?.as_array().iter().copied().collect();
    Ok((Samples::Owned(copied), channels))
}

/// Converts a Python value entering the runtime.
pub fn to_value(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    let py = obj.py();
    if obj.is_instance(audio_frame_type(py)?)? {
        // Interned names: no new Python string per frame and attribute.
        let samples = obj.getattr(intern!(py, "samples"))?;
        let rate: u32 = obj.getattr(intern!(py, "sample_rate"))?.extract()?;
        let timestamp: f64 = obj.getattr(intern!(py, "timestamp"))?.extract()?;
        let (samples, channels) = samples_from_numpy(&samples)?;
        let origin = Some(obj.clone().unbind());
        let audio = Audio::from_samples(samples, channels, rate, timestamp, origin);
        return Ok(Value::Audio(audio));
    }
    if obj.is_instance(node_error_type(py)?)? {
        return Ok(Value::Error(Box::new(NodeErrorRecord::from_python(obj)?)));
    }
    Ok(Value::Py(obj.clone().unbind()))
}

/// Converts a runtime value leaving for Python.
pub fn to_python(py: Python<'_>, value: Value) -> PyResult<Bound<'_, PyAny>> {
    match value {
        Value::Audio(audio) => audio_to_python(py, audio),
        Value::Spectrogram(spec) => spectrogram_to_python(py, spec),
        Value::Py(obj) => Ok(obj.into_bound(py)),
        Value::Error(record) => record.to_python(py),
    }
}

/// Builds (or returns the unchanged original) `AudioFrame` for `audio`.
pub fn audio_to_python(py: Python<'_>, audio: Audio) -> PyResult<Bound<'_, PyAny>> {
    if let Some(origin) = audio.origin() {
        return Ok(origin.clone_ref(py).into_bound(py));
    }
    let (samples, channels, rate, timestamp) = audio.into_parts();
    let data = samples.into_vec();
    let frames = data.len() / channels;
    let array = Array2::from_shape_vec((channels, frames), data)
        .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?
        .into_pyarray(py);
    // The parts are valid by construction: skip the constructor's checks.
    audio_frame_type(py)?.call_method1(intern!(py, "_trusted"), (array, rate, timestamp))
}

fn spectrogram_to_python(py: Python<'_>, spec: Spectrogram) -> PyResult<Bound<'_, PyAny>> {
    let values = Array2::from_shape_vec((spec.bins, spec.frames), spec.values)
        .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?
        .into_pyarray(py);
    let kwargs = PyDict::new(py);
    kwargs.set_item("values", values)?;
    kwargs.set_item("sample_rate", spec.sample_rate)?;
    kwargs.set_item("hop_length", spec.hop_length)?;
    kwargs.set_item("kind", spec.kind.as_str())?;
    kwargs.set_item("db", spec.db)?;
    kwargs.set_item("timestamp", spec.timestamp)?;
    kwargs.set_item("n_fft", spec.n_fft)?;
    if let Some(fmin) = spec.fmin {
        kwargs.set_item("fmin", fmin)?;
    }
    if let Some(fmax) = spec.fmax {
        kwargs.set_item("fmax", fmax)?;
    }
    spectrogram_type(py)?.call((), Some(&kwargs))
}

/// `remotemedia.core.errors.summarize(obj)`, for error records.
pub fn summarize(obj: &Bound<'_, PyAny>) -> String {
    let py = obj.py();
    py.import("remotemedia.core.errors")
        .and_then(|m| m.getattr("summarize"))
        .and_then(|f| f.call1((obj,)))
        .and_then(|s| s.extract())
        .unwrap_or_else(|_| "<value>".to_string())
}

/// Describes a value for an error record (takes the GIL only for Python values).
pub fn value_summary(value: &Value) -> String {
    match value {
        Value::Py(obj) => Python::attach(|py| summarize(obj.bind(py))),
        other => other.summary(),
    }
}

/// Type name of a value, for messages (takes the GIL only for Python values).
pub fn value_type_name(value: &Value) -> String {
    match value {
        Value::Py(obj) => Python::attach(|py| {
            obj.bind(py)
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_else(|_| "object".into())
        }),
        other => other.type_name().to_string(),
    }
}
