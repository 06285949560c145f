//! The Python API of `remotemedia._runtime`.

use std::sync::Mutex;
use std::time::Duration;

use numpy::{IntoPyArray, PyArrayDyn, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::PyTimeoutError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::convert::{samples_from_numpy, to_python, to_value};
use crate::error::{Error, Result};
use crate::executor::{
    apply_policy, block_on, block_on_detached, block_on_interruptible, recv, run_batch, try_recv,
    Control, Next, Plan,
};
use crate::frame::{Samples, Value};
use crate::manifest;
use crate::manifest::OnError;
use crate::nodes::{level, NATIVE_TYPES};
use tokio::sync::mpsc;

static END: pyo3::sync::PyOnceLock<Py<PyAny>> = pyo3::sync::PyOnceLock::new();

/// `remotemedia._runtime.END`: what `StreamExecutor.pull` returns at the end.
pub fn end_marker(py: Python<'_>) -> PyResult<&Py<PyAny>> {
    END.get_or_try_init(py, || {
        Ok(py.import("builtins")?.getattr("object")?.call0()?.unbind())
    })
}

fn inputs_to_values(inputs: &Bound<'_, PyAny>) -> PyResult<Vec<Value>> {
    inputs.try_iter()?.map(|item| to_value(&item?)).collect()
}

/// Runs a manifest over a batch of inputs and returns all outputs.
///
/// Args:
///     manifest_json: The manifest as JSON text.
///     inputs: Iterable of input values (AudioFrames, or anything a Python first
///         node accepts).
///     nodes: Optional live Python nodes by id, used instead of building them
///         from the registry (the caller initialises and cleans them up).
///
/// Raises:
///     ManifestError: If the manifest is invalid.
///     PipelineError: On a node failure with on_error="raise".
#[pyfunction]
#[pyo3(signature = (manifest_json, inputs, nodes = None))]
pub fn run_manifest(
    py: Python<'_>,
    manifest_json: &str,
    inputs: &Bound<'_, PyAny>,
    nodes: Option<&Bound<'_, PyDict>>,
) -> Result<Vec<Py<PyAny>>> {
    let manifest = manifest::parse(manifest_json)?;
    let plan = Plan::build(py, &manifest, nodes)?;
    let values = inputs_to_values(inputs)?;
    let outputs = run_batch(py, plan, values)?;
    outputs
        .into_iter()
        .map(|v| Ok(to_python(py, v)?.unbind()))
        .collect()
}

/// Validates a manifest (the shared JSON Schema and the chain) and returns where
/// each node would run: a list of dicts with stage, id, type and native.
///
/// Raises:
///     ManifestError: Naming the node and field at fault.
#[pyfunction]
#[pyo3(signature = (manifest_json, nodes = None))]
pub fn plan<'py>(
    py: Python<'py>,
    manifest_json: &str,
    nodes: Option<&Bound<'py, PyDict>>,
) -> Result<Bound<'py, PyList>> {
    let manifest = manifest::parse(manifest_json)?;
    let plan = Plan::build(py, &manifest, nodes)?;
    let list = PyList::empty(py);
    for p in &plan.placements {
        let d = PyDict::new(py);
        d.set_item("stage", p.stage)?;
        d.set_item("id", &p.id)?;
        d.set_item("type", &p.type_name)?;
        d.set_item("native", p.native)?;
        list.append(d)?;
    }
    // The plan's Python nodes were only built to check them.
    drop(plan);
    Ok(list)
}

/// Registry names of the node types with a native implementation.
#[pyfunction]
pub fn native_nodes() -> Vec<&'static str> {
    NATIVE_TYPES.to_vec()
}

/// Address of the buffer the runtime reads for an AudioFrame's samples, or 0 when
/// the runtime would have to copy them (non-contiguous samples). For tests.
#[pyfunction]
pub fn _buffer_address(frame: &Bound<'_, PyAny>) -> PyResult<usize> {
    let samples = frame.getattr("samples")?;
    let (samples, _) = samples_from_numpy(&samples)?;
    Ok(match &samples {
        Samples::Shared(_) => samples.as_slice().as_ptr() as usize,
        Samples::Owned(_) => 0,
    })
}

/// int16 PCM to float32 samples (`x / 32768`), any shape.
#[pyfunction]
pub fn int16_to_float32<'py>(
    py: Python<'py>,
    pcm: PyReadonlyArrayDyn<'py, i16>,
) -> PyResult<Bound<'py, PyArrayDyn<f32>>> {
    let shape = pcm.shape().to_vec();
    let data: Vec<i16> = pcm.as_array().iter().copied().collect();
    let out = py.detach(|| level::int16_to_float(&data));
    reshape(py, out, shape)
}

/// float32 samples to int16 PCM (clip to [-1, 32767/32768], scale by 32768), any shape.
#[pyfunction]
pub fn float32_to_int16<'py>(
    py: Python<'py>,
    samples: PyReadonlyArrayDyn<'py, f32>,
) -> PyResult<Bound<'py, PyArrayDyn<i16>>> {
    let shape = samples.shape().to_vec();
    let out = match samples.as_slice() {
        Ok(slice) => py.detach(|| level::float_to_int16(slice)),
        Err(_) => {
            let data: Vec<f32> = samples.as_array().iter().copied().collect();
            py.detach(|| level::float_to_int16(&data))
        }
    };
    reshape(py, out, shape)
}

fn reshape<T: numpy::Element>(
    py: Python<'_>,
    data: Vec<T>,
    shape: Vec<usize>,
) -> PyResult<Bound<'_, PyArrayDyn<T>>> {
    let array = numpy::ndarray::ArrayD::from_shape_vec(shape, data)
        .map_err(|e| pyo3::exceptions::PyValueError::new_err(e.to_string()))?;
    Ok(array.into_pyarray(py))
}

/// A running streaming pipeline: push inputs, pull outputs.
///
/// Inputs and outputs go through bounded queues (the manifest's queue_size):
/// `push` blocks, with the GIL released, while the pipeline is full. `close()`
/// ends the input (every node flushes); `cancel()` stops at once. Iterating the
/// executor pulls until the end of the stream.
///
/// Args:
///     manifest_json: The manifest as JSON text.
///     nodes: Optional live Python nodes by id (see run_manifest).
#[pyclass(module = "remotemedia._runtime")]
pub struct StreamExecutor {
    input: Mutex<Option<mpsc::Sender<Value>>>,
    // Separate locks: a thread blocked in pull() must not keep cancel() out.
    output: Mutex<mpsc::Receiver<Value>>,
    control: Mutex<Control>,
    on_error: OnError,
}

impl StreamExecutor {
    fn sender(&self) -> Result<mpsc::Sender<Value>> {
        self.input
            .lock()
            .expect("not poisoned")
            .clone()
            .ok_or_else(|| Error::Runtime("the stream's input is closed".into()))
    }

    /// Cancels and waits for the stages; call without the GIL.
    fn stop(&self) {
        self.input.lock().expect("not poisoned").take();
        // Closing the output unblocks a last stage waiting for room; a thread
        // holding the lock is pulling, which makes room as well.
        if let Ok(mut rx) = self.output.try_lock() {
            rx.close();
        }
        let mut control = self.control.lock().expect("not poisoned");
        control.cancel();
        block_on(control.join());
    }
}

#[pymethods]
impl StreamExecutor {
    #[new]
    #[pyo3(signature = (manifest_json, nodes = None))]
    fn new(py: Python<'_>, manifest_json: &str, nodes: Option<&Bound<'_, PyDict>>) -> Result<Self> {
        let manifest = manifest::parse(manifest_json)?;
        let plan = Plan::build(py, &manifest, nodes)?;
        let running = plan.start();
        Ok(StreamExecutor {
            input: Mutex::new(running.input),
            output: Mutex::new(running.output),
            control: Mutex::new(running.control),
            on_error: running.on_error,
        })
    }

    /// Sends one input, waiting (GIL released) while the pipeline is full.
    ///
    /// Raises:
    ///     RemoteMediaError: If the input was closed or the stream cancelled.
    fn push(&self, py: Python<'_>, item: &Bound<'_, PyAny>) -> Result<()> {
        let value = to_value(item)?;
        let tx = self.sender()?;
        block_on_detached(py, async move {
            tx.send(value)
                .await
                .map_err(|_| Error::Runtime("the stream was cancelled".into()))
        })
    }

    /// Sends one input if there is room now; returns whether it was sent.
    ///
    /// Raises:
    ///     RemoteMediaError: If the input was closed or the stream cancelled.
    fn try_push(&self, item: &Bound<'_, PyAny>) -> Result<bool> {
        let tx = self.sender()?;
        match tx.try_send(to_value(item)?) {
            Ok(()) => Ok(true),
            Err(mpsc::error::TrySendError::Full(_)) => Ok(false),
            Err(mpsc::error::TrySendError::Closed(_)) => {
                Err(Error::Runtime("the stream was cancelled".into()))
            }
        }
    }

    /// Ends the input: the nodes flush and the stream ends after their outputs.
    fn close(&self) {
        self.input.lock().expect("not poisoned").take();
    }

    /// Returns the next output, or `remotemedia._runtime.END` at the end of the
    /// stream (a sentinel, since None can be an output).
    ///
    /// Args:
    ///     timeout: Seconds to wait; None waits as long as it takes, 0 polls.
    ///
    /// Raises:
    ///     TimeoutError: If nothing came within the timeout.
    ///     PipelineError: On a node failure with on_error="raise" (the stream is
    ///         cancelled).
    #[pyo3(signature = (timeout = None))]
    fn pull(&self, py: Python<'_>, timeout: Option<f64>) -> Result<Py<PyAny>> {
        match self.next_output(py, timeout)? {
            Some(value) => Ok(value),
            None => Ok(end_marker(py)?.clone_ref(py)),
        }
    }

    /// Stops the stream now, without flushing the nodes, and waits for its tasks.
    fn cancel(&self, py: Python<'_>) {
        py.detach(|| self.stop());
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> Result<Option<Py<PyAny>>> {
        self.next_output(py, None)
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    #[pyo3(signature = (*_args))]
    fn __exit__(&self, py: Python<'_>, _args: &Bound<'_, pyo3::types::PyTuple>) {
        self.cancel(py);
    }
}

impl StreamExecutor {
    /// The next output; None at the end of the stream.
    fn next_output(&self, py: Python<'_>, timeout: Option<f64>) -> Result<Option<Py<PyAny>>> {
        // Locks are only taken with the GIL released, so a thread waiting for one
        // never blocks a thread that holds it and needs the GIL.
        let next = py.detach(|| {
            let mut rx = self.output.lock().expect("not poisoned");
            let next = match timeout {
                Some(t) if t <= 0.0 => try_recv(&mut rx),
                _ => {
                    let limit = timeout.map(Duration::from_secs_f64);
                    let rx: &mut mpsc::Receiver<Value> = &mut rx;
                    block_on_interruptible(async move { Ok(recv(rx, limit).await) })?
                }
            };
            drop(rx);
            let checked = apply_policy(self.on_error, next);
            if checked.is_err() {
                self.stop();
            }
            checked
        })?;
        match next {
            Next::Value(value) => Ok(Some(to_python(py, value)?.unbind())),
            Next::End => Ok(None),
            Next::Timeout => Err(PyTimeoutError::new_err("no output within the timeout").into()),
        }
    }
}
