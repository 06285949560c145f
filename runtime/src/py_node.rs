//! Python nodes inside the runtime: built through the Python registry and called
//! with the GIL held only for each call.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::convert::{to_python, to_value};
use crate::error::{NodeErrorRecord, Result};
use crate::frame::Value;
use crate::manifest::NodeEntry;

/// A Python node and the private event loop used for its async methods.
pub struct PyNode {
    node: Py<PyAny>,
    name: String,
    is_async: bool,
    /// Whether the runtime initialises and cleans up the node (it built it).
    owns_lifecycle: bool,
    event_loop: Option<Py<PyAny>>,
}

impl PyNode {
    /// Builds the node for `entry` with `remotemedia.core.manifest.node_from_entry`,
    /// or adopts `provided` (a live node the caller manages).
    ///
    /// # Errors
    /// The `ManifestError` raised by the Python registry.
    pub fn build(
        py: Python<'_>,
        entry: &NodeEntry,
        provided: Option<Bound<'_, PyAny>>,
    ) -> Result<Self> {
        let (node, owns_lifecycle) = match provided {
            Some(node) => (node, false),
            None => {
                let json = py.import("json")?;
                let entry_obj = json.call_method1("loads", (entry.to_json().to_string(),))?;
                let node = py
                    .import("remotemedia.core.manifest")?
                    .call_method1("node_from_entry", (entry_obj,))?;
                (node, true)
            }
        };
        let is_async: bool = node.call_method0("_is_async")?.extract()?;
        Ok(PyNode {
            node: node.unbind(),
            name: entry.id.clone(),
            is_async,
            owns_lifecycle,
            event_loop: None,
        })
    }

    /// The node's name (its manifest id).
    pub fn name(&self) -> &str {
        &self.name
    }

    fn run_coroutine<'py>(
        &mut self,
        py: Python<'py>,
        coroutine: Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if self.event_loop.is_none() {
            let event_loop = py.import("asyncio")?.call_method0("new_event_loop")?;
            self.event_loop = Some(event_loop.unbind());
        }
        let event_loop = self.event_loop.as_ref().expect("created above").bind(py);
        event_loop.call_method1("run_until_complete", (coroutine,))
    }

    /// Initialises the node if the runtime owns it.
    ///
    /// # Errors
    /// What the node's `initialize` raised, as a `NodeError` record.
    pub fn open(&mut self, py: Python<'_>) -> std::result::Result<(), NodeErrorRecord> {
        if !self.owns_lifecycle {
            return Ok(());
        }
        let result = self
            .node
            .bind(py)
            .call_method0("_ensure_initialized")
            .and_then(|c| self.run_coroutine(py, c));
        result.map(|_| ()).map_err(|e| {
            self.record(
                py,
                e,
                &"<initialize>".into_pyobject(py).expect("str").into_any(),
            )
        })
    }

    fn record(&self, py: Python<'_>, err: PyErr, data: &Bound<'_, PyAny>) -> NodeErrorRecord {
        let exc = err.value(py);
        // The traceback travels beside the exception in PyErr; attach it so that
        // the record's formatted traceback shows the node's frames.
        let _ = exc.setattr("__traceback__", err.traceback(py));
        let made = py
            .import("remotemedia.core.errors")
            .and_then(|m| m.getattr("NodeError"))
            .and_then(|cls| cls.call_method1("from_exception", (&self.name, exc, data)))
            .and_then(|rec| NodeErrorRecord::from_python(&rec));
        made.unwrap_or_else(|e| NodeErrorRecord {
            node: self.name.clone(),
            error_type: "RuntimeError".into(),
            message: format!("{err} (and building its record failed: {e})"),
            input_summary: String::new(),
            traceback: String::new(),
        })
    }

    fn outputs(result: &Bound<'_, PyAny>) -> PyResult<Vec<Value>> {
        let py = result.py();
        if result.is_none() {
            return Ok(Vec::new());
        }
        let outputs_cls = py.import("remotemedia.core.node")?.getattr("Outputs")?;
        if result.is_instance(&outputs_cls)? {
            let list = result.cast::<PyList>()?;
            return list.iter().map(|item| to_value(&item)).collect();
        }
        Ok(vec![to_value(result)?])
    }

    /// Processes one input; failures become a `NodeError` record output.
    pub fn process(&mut self, py: Python<'_>, input: Value) -> Vec<Value> {
        if let Value::Error(_) = input {
            return vec![input];
        }
        let data = match to_python(py, input) {
            Ok(data) => data,
            Err(e) => {
                let none = py.None().into_bound(py);
                return vec![Value::Error(Box::new(self.record(py, e, &none)))];
            }
        };
        let node = self.node.bind(py).clone();
        let started = std::time::Instant::now();
        let result = if self.is_async {
            node.call_method1("aprocess", (&data,))
                .and_then(|c| self.run_coroutine(py, c))
        } else {
            node.call_method1("process", (&data,))
        };
        match result.and_then(|r| Self::outputs(&r)) {
            Ok(outputs) => {
                record_stats(&node, outputs.len(), started.elapsed().as_secs_f64());
                outputs
            }
            Err(e) => vec![Value::Error(Box::new(self.record(py, e, &data)))],
        }
    }

    /// End of stream: the node's `flush()` outputs.
    pub fn flush(&mut self, py: Python<'_>) -> Vec<Value> {
        let result = self.node.bind(py).call_method0("flush");
        match result.and_then(|r| Self::outputs(&r)) {
            Ok(outputs) => outputs,
            Err(e) => {
                let end = "<end of stream>".into_pyobject(py).expect("str").into_any();
                vec![Value::Error(Box::new(self.record(py, e, &end)))]
            }
        }
    }

    /// Cleans up (if owned) and closes the private event loop.
    pub fn close(&mut self, py: Python<'_>) {
        if self.owns_lifecycle {
            let done = self
                .node
                .bind(py)
                .call_method0("_ensure_cleaned_up")
                .and_then(|c| self.run_coroutine(py, c));
            if let Err(e) = done {
                tracing::warn!(node = %self.name, error = %e, "node cleanup failed");
            }
        }
        if let Some(event_loop) = self.event_loop.take() {
            let event_loop = event_loop.bind(py);
            let _ = event_loop
                .call_method0("shutdown_default_executor")
                .and_then(|c| event_loop.call_method1("run_until_complete", (c,)));
            let _ = event_loop.call_method0("close");
        }
    }
}

/// Adds one call to `node.stats` (the NodeStats the Python engine keeps).
fn record_stats(node: &Bound<'_, PyAny>, outputs: usize, seconds: f64) {
    let update = || -> PyResult<()> {
        let stats = node.getattr("stats")?;
        let calls: u64 = stats.getattr("calls")?.extract()?;
        let emitted: u64 = stats.getattr("outputs")?.extract()?;
        let total: f64 = stats.getattr("total_s")?.extract()?;
        stats.setattr("calls", calls + 1)?;
        stats.setattr("outputs", emitted + outputs as u64)?;
        stats.setattr("total_s", total + seconds)
    };
    if let Err(e) = update() {
        tracing::debug!(error = %e, "could not update node stats");
    }
}

/// Looks up a caller-provided node by id in an optional dict.
pub fn provided_node<'py>(
    nodes: Option<&Bound<'py, PyDict>>,
    id: &str,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    match nodes {
        Some(dict) => dict.get_item(id),
        None => Ok(None),
    }
}
