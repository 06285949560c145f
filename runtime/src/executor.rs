//! The executor: one tokio task per stage, bounded channels between stages.
//!
//! Consecutive native nodes fuse into one stage, so audio moves between them as
//! Rust values with no channel hop and no Python conversion. Each Python node is a
//! stage of its own on a blocking thread that takes the GIL only around each call.
//! Bounded channels give backpressure; every stage handles its inputs in order, so
//! outputs keep input order. Closing the input flushes every stage in turn;
//! cancelling stops all stages without flushing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::PyDict;
use tokio::runtime::Runtime;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::convert::{value_summary, value_type_name};
use crate::error::{Error, NodeErrorRecord, NodeFailure, Result};
use crate::frame::Value;
use crate::manifest::{Manifest, OnError};
use crate::nodes::{self, Build, NativeNode};
use crate::py_node::{provided_node, PyNode};

/// The process-wide tokio runtime (worker threads = available cores, at most 8).
pub static RUNTIME: LazyLock<Runtime> = LazyLock::new(|| {
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().min(8));
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .thread_name("remotemedia-rt")
        .enable_time()
        .build()
        .expect("tokio runtime starts")
});

/// A native node with its manifest id and type.
pub struct Slot {
    /// Manifest id.
    pub id: String,
    /// Registry type name.
    pub type_name: String,
    /// The node.
    pub node: Box<dyn NativeNode>,
}

/// Consecutive native nodes run as one stage.
pub struct NativeChain {
    nodes: Vec<Slot>,
}

impl NativeChain {
    /// A chain of native nodes.
    pub fn new(nodes: Vec<Slot>) -> Self {
        NativeChain { nodes }
    }

    fn call(&mut self, index: usize, value: Value) -> Vec<Value> {
        let Slot {
            id: name,
            type_name,
            node,
        } = &mut self.nodes[index];
        let audio = match value {
            Value::Error(_) => return vec![value],
            Value::Audio(audio) => audio,
            other => {
                let failure = NodeFailure::type_error(format!(
                    "{type_name} expects an AudioFrame, got {}",
                    value_type_name(&other)
                ));
                return vec![failure_record(name, failure, value_summary(&other))];
            }
        };
        // Only the cheap parts of the description are kept in case of failure.
        let described = audio.describe_later();
        match node.process(audio) {
            Ok(outputs) => outputs,
            Err(failure) => vec![failure_record(name, failure, described.to_string())],
        }
    }

    /// Runs `inputs` through nodes `start..`.
    fn run_from(&mut self, start: usize, inputs: Vec<Value>) -> Vec<Value> {
        let mut current = inputs;
        for index in start..self.nodes.len() {
            if current.is_empty() {
                break;
            }
            let mut next = Vec::with_capacity(current.len());
            for value in current {
                next.extend(self.call(index, value));
            }
            current = next;
        }
        current
    }

    /// Processes one input through the whole chain.
    pub fn process(&mut self, value: Value) -> Vec<Value> {
        self.run_from(0, vec![value])
    }

    /// Flushes each node in order, running its outputs through the nodes after it.
    pub fn flush(&mut self) -> Vec<Value> {
        let mut out = Vec::new();
        for index in 0..self.nodes.len() {
            let flushed = {
                let slot = &mut self.nodes[index];
                match slot.node.flush() {
                    Ok(values) => values,
                    Err(failure) => {
                        vec![failure_record(&slot.id, failure, "<end of stream>".into())]
                    }
                }
            };
            out.extend(self.run_from(index + 1, flushed));
        }
        out
    }
}

fn failure_record(node: &str, failure: NodeFailure, input_summary: String) -> Value {
    tracing::debug!(node, %failure, "native node failed");
    Value::Error(Box::new(NodeErrorRecord {
        node: node.to_string(),
        error_type: failure.error_type.to_string(),
        message: failure.message,
        input_summary,
        traceback: String::new(),
    }))
}

/// One stage of a plan.
pub enum Stage {
    /// Fused native nodes.
    Native(NativeChain),
    /// One Python node.
    Python(PyNode),
}

/// Where a manifest node runs, for introspection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// Stage index.
    pub stage: usize,
    /// Node id.
    pub id: String,
    /// Node type.
    pub type_name: String,
    /// Whether it runs natively.
    pub native: bool,
}

/// A manifest turned into stages, ready to start.
pub struct Plan {
    stages: Vec<Stage>,
    /// Failure policy.
    pub on_error: OnError,
    /// Channel capacity.
    pub queue_size: usize,
    /// Where each node runs.
    pub placements: Vec<Placement>,
}

impl Plan {
    /// Builds the stages for `manifest`. Python nodes come from `provided` (by id)
    /// when given there, else from the Python registry.
    ///
    /// # Errors
    /// [`Error::Manifest`] (or the registry's `ManifestError`) naming the node.
    pub fn build(
        py: Python<'_>,
        manifest: &Manifest,
        provided: Option<&Bound<'_, PyDict>>,
    ) -> Result<Plan> {
        let mut stages: Vec<Stage> = Vec::new();
        let mut placements = Vec::new();
        let mut chain: Vec<Slot> = Vec::new();
        for entry in manifest.chain()? {
            let native = match nodes::build(entry)? {
                Build::Native(node) => Some(node),
                Build::Python(reason) => {
                    tracing::debug!(node = %entry.id, %reason, "runs as Python");
                    None
                }
            };
            let is_native = native.is_some();
            if let Some(node) = native {
                chain.push(Slot {
                    id: entry.id.clone(),
                    type_name: entry.type_name.clone(),
                    node,
                });
            } else {
                if !chain.is_empty() {
                    stages.push(Stage::Native(NativeChain::new(std::mem::take(&mut chain))));
                }
                let node = PyNode::build(py, entry, provided_node(provided, &entry.id)?)?;
                stages.push(Stage::Python(node));
            }
            placements.push(Placement {
                stage: if is_native {
                    stages.len()
                } else {
                    stages.len() - 1
                },
                id: entry.id.clone(),
                type_name: entry.type_name.clone(),
                native: is_native,
            });
        }
        if !chain.is_empty() {
            stages.push(Stage::Native(NativeChain::new(chain)));
        }
        Ok(Plan {
            stages,
            on_error: manifest.options.on_error,
            queue_size: manifest.options.queue_size.max(1),
            placements,
        })
    }

    /// A plan of native nodes only (no Python needed), mainly for Rust tests.
    pub fn native(manifest: &Manifest) -> Result<Plan> {
        let mut chain = Vec::new();
        let mut placements = Vec::new();
        for entry in manifest.chain()? {
            match nodes::build(entry)? {
                Build::Native(node) => chain.push(Slot {
                    id: entry.id.clone(),
                    type_name: entry.type_name.clone(),
                    node,
                }),
                Build::Python(reason) => {
                    return Err(Error::manifest(format!("node '{}': {reason}", entry.id)))
                }
            }
            placements.push(Placement {
                stage: 0,
                id: entry.id.clone(),
                type_name: entry.type_name.clone(),
                native: true,
            });
        }
        let stages = if chain.is_empty() {
            Vec::new()
        } else {
            vec![Stage::Native(NativeChain::new(chain))]
        };
        Ok(Plan {
            stages,
            on_error: manifest.options.on_error,
            queue_size: manifest.options.queue_size.max(1),
            placements,
        })
    }

    /// Starts one task per stage and returns the running pipeline's ends.
    pub fn start(self) -> Running {
        let cancel = Arc::new(AtomicBool::new(false));
        let (input, mut rx) = mpsc::channel::<Value>(self.queue_size);
        let mut tasks = Vec::with_capacity(self.stages.len());
        for stage in self.stages {
            let (tx, next_rx) = mpsc::channel::<Value>(self.queue_size);
            let cancel = cancel.clone();
            let handle = match stage {
                Stage::Native(chain) => RUNTIME.spawn(run_native(chain, rx, tx, cancel)),
                Stage::Python(node) => {
                    RUNTIME.spawn_blocking(move || run_python(node, rx, tx, cancel))
                }
            };
            tasks.push(handle);
            rx = next_rx;
        }
        Running {
            input: Some(input),
            output: rx,
            control: Control { tasks, cancel },
            on_error: self.on_error,
        }
    }
}

async fn run_native(
    mut chain: NativeChain,
    mut rx: mpsc::Receiver<Value>,
    tx: mpsc::Sender<Value>,
    cancel: Arc<AtomicBool>,
) {
    while let Some(value) = rx.recv().await {
        for out in chain.process(value) {
            if tx.send(out).await.is_err() {
                return;
            }
        }
    }
    if cancel.load(Ordering::Acquire) {
        return;
    }
    for out in chain.flush() {
        if tx.send(out).await.is_err() {
            return;
        }
    }
}

fn run_python(
    mut node: PyNode,
    mut rx: mpsc::Receiver<Value>,
    tx: mpsc::Sender<Value>,
    cancel: Arc<AtomicBool>,
) {
    if let Err(record) = Python::attach(|py| node.open(py)) {
        let _ = tx.blocking_send(Value::Error(Box::new(record)));
        Python::attach(|py| node.close(py));
        return;
    }
    'stream: {
        while let Some(value) = rx.blocking_recv() {
            if cancel.load(Ordering::Acquire) {
                break 'stream;
            }
            let outputs = Python::attach(|py| node.process(py, value));
            for out in outputs {
                if tx.blocking_send(out).is_err() {
                    break 'stream;
                }
            }
        }
        if cancel.load(Ordering::Acquire) {
            break 'stream;
        }
        let outputs = Python::attach(|py| node.flush(py));
        for out in outputs {
            if tx.blocking_send(out).is_err() {
                break 'stream;
            }
        }
    }
    // Values still queued hold Python references; let them go with the GIL.
    drop(rx);
    Python::attach(|py| node.close(py));
}

/// A started pipeline: the input sender, the output receiver and the tasks.
pub struct Running {
    /// Sender of inputs; dropping it ends the stream (the stages flush).
    pub input: Option<mpsc::Sender<Value>>,
    /// Receiver of the last stage's outputs.
    pub output: mpsc::Receiver<Value>,
    /// Task handles and the cancel flag.
    pub control: Control,
    /// Failure policy.
    pub on_error: OnError,
}

/// What a receive got.
pub enum Next {
    /// An output.
    Value(Value),
    /// End of stream: every stage flushed and finished.
    End,
    /// Nothing within the timeout.
    Timeout,
}

/// Waits for the next output for at most `timeout` (forever when None).
pub async fn recv(rx: &mut mpsc::Receiver<Value>, timeout: Option<Duration>) -> Next {
    let received = match timeout {
        None => rx.recv().await,
        Some(limit) => match tokio::time::timeout(limit, rx.recv()).await {
            Ok(received) => received,
            Err(_) => return Next::Timeout,
        },
    };
    received.map_or(Next::End, Next::Value)
}

/// Takes the next output if one is ready.
pub fn try_recv(rx: &mut mpsc::Receiver<Value>) -> Next {
    match rx.try_recv() {
        Ok(value) => Next::Value(value),
        Err(mpsc::error::TryRecvError::Empty) => Next::Timeout,
        Err(mpsc::error::TryRecvError::Disconnected) => Next::End,
    }
}

/// Applies the failure policy: with "raise", a failure record becomes
/// [`Error::Node`].
///
/// # Errors
/// [`Error::Node`] for a record under "raise".
pub fn apply_policy(on_error: OnError, next: Next) -> Result<Next> {
    match next {
        Next::Value(Value::Error(record)) if on_error == OnError::Raise => Err(Error::Node(record)),
        other => Ok(other),
    }
}

/// The stage tasks of a running pipeline and its cancel flag.
pub struct Control {
    tasks: Vec<JoinHandle<()>>,
    cancel: Arc<AtomicBool>,
}

impl Control {
    /// Stops every stage without flushing.
    pub fn cancel(&mut self) {
        self.cancel.store(true, Ordering::Release);
        for task in &self.tasks {
            // Aborting a blocking (Python) stage is a no-op; it sees the flag or its
            // closed channels instead.
            task.abort();
        }
    }

    /// Whether the pipeline was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::Acquire)
    }

    /// Waits until every stage task has finished.
    pub async fn join(&mut self) {
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }

    /// Whether tasks are still to be joined.
    pub fn has_tasks(&self) -> bool {
        !self.tasks.is_empty()
    }
}

impl Drop for Control {
    fn drop(&mut self) {
        if !self.tasks.is_empty() {
            self.cancel();
        }
    }
}

impl Running {
    /// Feeds `inputs`, collects every output, and waits for the stages to finish.
    ///
    /// # Errors
    /// [`Error::Node`] on the first failure when the policy is "raise" (the
    /// pipeline is cancelled then).
    pub async fn run_all(&mut self, inputs: Vec<Value>) -> Result<Vec<Value>> {
        let feeder = self.input.take().map(|tx| {
            tokio::spawn(async move {
                for value in inputs {
                    if tx.send(value).await.is_err() {
                        break;
                    }
                }
            })
        });
        let mut outputs = Vec::new();
        let result = loop {
            match apply_policy(self.on_error, recv(&mut self.output, None).await) {
                Ok(Next::Value(value)) => outputs.push(value),
                Ok(Next::End | Next::Timeout) => break Ok(outputs),
                Err(err) => {
                    self.control.cancel();
                    break Err(err);
                }
            }
        };
        if let Some(feeder) = feeder {
            if result.is_err() {
                feeder.abort();
            }
            let _ = feeder.await;
        }
        self.output.close();
        self.control.join().await;
        result
    }
}

/// Runs `fut` on the runtime with the GIL released; see [`block_on_interruptible`].
///
/// # Errors
/// The future's error, or the pending Python signal's exception.
pub fn block_on_detached<T: Send>(
    py: Python<'_>,
    fut: impl std::future::Future<Output = Result<T>> + Send,
) -> Result<T> {
    py.detach(|| block_on_interruptible(fut))
}

/// Runs `fut` on the runtime from a thread that does not hold the GIL, checking
/// for Ctrl-C (Python signals) every 100 ms.
///
/// # Errors
/// The future's error, or the pending Python signal's exception.
pub fn block_on_interruptible<T: Send>(
    fut: impl std::future::Future<Output = Result<T>> + Send,
) -> Result<T> {
    block_on(async {
        tokio::pin!(fut);
        loop {
            tokio::select! {
                out = &mut fut => return out,
                () = tokio::time::sleep(Duration::from_millis(100)) => {
                    Python::attach(|py| py.check_signals())?;
                }
            }
        }
    })
}

/// Runs a batch through one native chain on the calling thread (no GIL held),
/// checking for Ctrl-C every 256 inputs.
fn run_inline(mut chain: NativeChain, on_error: OnError, inputs: Vec<Value>) -> Result<Vec<Value>> {
    let mut outputs = Vec::new();
    let keep = |values: Vec<Value>, outputs: &mut Vec<Value>| -> Result<()> {
        for value in values {
            match apply_policy(on_error, Next::Value(value))? {
                Next::Value(value) => outputs.push(value),
                Next::End | Next::Timeout => {}
            }
        }
        Ok(())
    };
    for (index, value) in inputs.into_iter().enumerate() {
        if index % 256 == 255 {
            Python::attach(|py| py.check_signals())?;
        }
        keep(chain.process(value), &mut outputs)?;
    }
    keep(chain.flush(), &mut outputs)?;
    Ok(outputs)
}

/// Runs a future to completion on the runtime from synchronous code.
///
/// From a thread that is already inside the runtime (a Python node that runs a
/// pipeline itself), tokio forbids blocking, so the wait happens on a helper
/// thread instead.
pub fn block_on<F>(fut: F) -> F::Output
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    if tokio::runtime::Handle::try_current().is_ok() {
        std::thread::scope(|scope| {
            scope
                .spawn(|| RUNTIME.block_on(fut))
                .join()
                .expect("runtime helper thread does not panic")
        })
    } else {
        RUNTIME.block_on(fut)
    }
}

/// Runs a whole batch of inputs through a plan (GIL released while it runs).
///
/// # Errors
/// [`Error::Node`] on a failure with policy "raise"; a KeyboardInterrupt cancels
/// the pipeline and is returned as [`Error::Python`].
pub fn run_batch(py: Python<'_>, mut plan: Plan, inputs: Vec<Value>) -> Result<Vec<Value>> {
    let inline = match plan.stages.as_slice() {
        [] => Some(NativeChain::new(Vec::new())),
        [Stage::Native(_)] => match plan.stages.pop() {
            Some(Stage::Native(chain)) => Some(chain),
            _ => unreachable!("matched a single native stage"),
        },
        _ => None,
    };
    if let Some(chain) = inline {
        // One fused native stage: its task is this thread (GIL released), with no
        // channel hops at all.
        return py.detach(|| run_inline(chain, plan.on_error, inputs));
    }
    let mut running = plan.start();
    let result = block_on_detached(py, running.run_all(inputs));
    if running.control.has_tasks() {
        // Interrupted: stop the stages and let them wind down (Python stages need
        // the GIL to clean up, so wait with it released).
        running.control.cancel();
        running.output.close();
        py.detach(|| block_on(running.control.join()));
    }
    result
}
