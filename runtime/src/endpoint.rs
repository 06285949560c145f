//! A gRPC server transport for Python handlers: HTTP/2, framing and flow control in
//! Rust (tonic), the handlers on the caller's asyncio loop.
//!
//! A session worker serves its direct endpoint (streams and method calls) with this
//! instead of `grpc.aio`, whose per-message work in Python was the largest part of a
//! frame's round trip. Messages stay serialized: Python parses them. Per message,
//! Rust hands the bytes to the loop with one `call_soon_threadsafe`, and Python
//! hands a reply back with one non-blocking [`ServerCall::send`].
//!
//! Every bidi call of an allowed method becomes `on_call(method, metadata, call)`,
//! run on a runtime thread with the GIL; it returns `deliver(kind, payload)`, which
//! is then scheduled on the loop for each batch of requests (`MESSAGES`, a list of
//! bytes), at the end of the client's input (`END`) and when the client goes away
//! (`GONE`). Python answers through the [`ServerCall`] it was given.

use std::convert::Infallible;
use std::net::TcpListener as StdListener;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes};
use futures_util::FutureExt;
use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio_stream::wrappers::UnboundedReceiverStream;
use tokio_stream::{Stream, StreamExt};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::metadata::{Ascii, Binary, KeyAndValueRef, MetadataKey, MetadataMap, MetadataValue};
use tonic::{Code, Status, Streaming};

/// `deliver` kinds.
const MESSAGES: u8 = 0;
const END: u8 = 1;
const GONE: u8 = 2;

/// Requests handed to Python and not yet taken by its handler: beyond this the
/// endpoint stops reading and HTTP/2 flow control holds the client back.
const PENDING_REQUESTS: usize = 64;

// -- codec: messages pass through as bytes ------------------------------------------

#[derive(Clone, Copy, Default)]
struct RawCodec;

struct RawEncoder;

struct RawDecoder;

impl Encoder for RawEncoder {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        let len = src.remaining();
        Ok(Some(src.copy_to_bytes(len)))
    }
}

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;

    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }

    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

// -- one call -------------------------------------------------------------------------

/// What Python sends down a call: a reply, or the end with its status.
enum Outgoing {
    Message(Bytes),
    End(Option<Status>),
}

/// What a call's feeder and its Python side share.
struct CallShared {
    replies: mpsc::UnboundedSender<Outgoing>,
    /// One permit per request the feeder may read ahead of the handler.
    credits: Semaphore,
    /// `step(batch) -> taken`, run on the endpoint's thread instead of handing
    /// requests to the loop (see [`ServerCall::go_inline`]).
    inline: Mutex<Option<Py<PyAny>>>,
}

impl CallShared {
    /// Requests handed over and not yet given back with [`ServerCall::release`].
    fn outstanding(&self) -> usize {
        PENDING_REQUESTS - self.credits.available_permits()
    }

    fn set_inline(&self, step: Option<Py<PyAny>>) {
        if let Ok(mut inline) = self.inline.lock() {
            *inline = step;
        }
    }
}

/// One bidi call, as its Python handler sees it: replies go out through it.
#[pyclass(module = "remotemedia._runtime", frozen)]
pub struct ServerCall {
    shared: Arc<CallShared>,
}

#[pymethods]
impl ServerCall {
    /// Queues one reply message (never blocks; the client's window bounds them).
    /// False when the call is over (the client has gone): the reply is dropped.
    fn send(&self, data: &[u8]) -> bool {
        self.shared
            .replies
            .send(Outgoing::Message(Bytes::copy_from_slice(data)))
            .is_ok()
    }

    /// Ends the call with a gRPC status code, its details and trailing metadata
    /// (keys ending in `-bin` carry bytes). Later calls are ignored.
    #[pyo3(signature = (code, details = String::new(), trailers = Vec::new()))]
    fn finish(&self, code: i32, details: String, trailers: Vec<(String, Vec<u8>)>) {
        self.shared.set_inline(None);
        let status = (code != 0)
            .then(|| Status::with_metadata(Code::from_i32(code), details, trailing(&trailers)));
        // An error here means the client has gone: nothing is waiting for it.
        let _ = self.shared.replies.send(Outgoing::End(status));
    }

    /// Gives back `count` requests the handler is done with: the feeder may read
    /// that many more.
    fn release(&self, count: usize) {
        self.shared.credits.add_permits(count);
    }

    /// From now on, while the handler holds no request, batches of requests go to
    /// `step(batch) -> taken` on the endpoint's own thread (with the GIL), with no
    /// hop to the loop; the ones it does not take go to the loop as before, and
    /// inline handling stops. `None` stops it.
    fn go_inline(&self, step: Option<Py<PyAny>>) {
        self.shared.set_inline(step);
    }
}

fn trailing(items: &[(String, Vec<u8>)]) -> MetadataMap {
    let mut map = MetadataMap::new();
    for (key, value) in items {
        if key.ends_with("-bin") {
            if let Ok(key) = MetadataKey::<Binary>::from_bytes(key.as_bytes()) {
                map.insert_bin(key, MetadataValue::from_bytes(value));
            }
        } else if let (Ok(key), Ok(text)) = (
            MetadataKey::<Ascii>::from_bytes(key.as_bytes()),
            std::str::from_utf8(value),
        ) {
            if let Ok(value) = MetadataValue::<Ascii>::try_from(text) {
                map.insert(key, value);
            } else {
                tracing::debug!(key = %key, "trailer value is not ASCII; dropped");
            }
        }
    }
    map
}

/// The Python side of the endpoint: the handler factory and the loop's
/// `call_soon_threadsafe`.
struct Handlers {
    on_call: Py<PyAny>,
    call_soon: Py<PyAny>,
}

impl Handlers {
    /// Schedules `deliver(kind, payload)` on the loop; false if the loop is gone.
    fn schedule(&self, deliver: &Py<PyAny>, kind: u8) -> bool {
        Python::attach(|py| self.call_soon(py, deliver, kind, py.None()))
    }

    fn call_soon(&self, py: Python<'_>, deliver: &Py<PyAny>, kind: u8, payload: Py<PyAny>) -> bool {
        match self.call_soon.call1(py, (deliver, kind, payload)) {
            Ok(_) => true,
            Err(err) => {
                tracing::debug!(error = %err, "the endpoint's event loop refused a call");
                false
            }
        }
    }

    /// Hands a batch of requests to the handler: to its inline step when it has one
    /// and holds no earlier request (so order is kept), else (and for what the
    /// step leaves) to the loop. False if the loop is gone.
    fn hand_over(&self, call: &CallShared, deliver: &Py<PyAny>, batch: Vec<Bytes>) -> bool {
        Python::attach(|py| {
            let mut rest = batch.as_slice();
            let step = call
                .inline
                .lock()
                .ok()
                .and_then(|inline| inline.as_ref().map(|f| f.clone_ref(py)));
            if let Some(step) = step {
                if call.outstanding() == rest.len() {
                    let taken = bytes_list(py, rest)
                        .and_then(|list| step.call1(py, (list,)))
                        .and_then(|taken| taken.extract::<usize>(py));
                    let taken = match taken {
                        Ok(taken) => taken.min(rest.len()),
                        Err(err) => {
                            tracing::warn!(error = %err, "inline step failed");
                            0 // the loop takes them all
                        }
                    };
                    call.credits.add_permits(taken);
                    rest = &rest[taken..];
                    if !rest.is_empty() {
                        call.set_inline(None);
                    }
                }
            }
            if rest.is_empty() {
                return true;
            }
            match bytes_list(py, rest) {
                Ok(list) => {
                    let list = list.into_any().unbind();
                    self.call_soon(py, deliver, MESSAGES, list)
                }
                Err(_) => false,
            }
        })
    }
}

fn bytes_list<'py>(py: Python<'py>, items: &[Bytes]) -> PyResult<Bound<'py, PyList>> {
    PyList::new(py, items.iter().map(|m| PyBytes::new(py, m)))
}

type Replies = Pin<Box<dyn Stream<Item = Result<Bytes, Status>> + Send>>;

/// Serves one call: announces it to Python, then feeds it the client's requests.
#[derive(Clone)]
struct Method {
    name: Arc<str>,
    handlers: Arc<Handlers>,
}

impl tower::Service<tonic::Request<Streaming<Bytes>>> for Method {
    type Response = tonic::Response<Replies>;
    type Error = Status;
    type Future = Pin<Box<dyn std::future::Future<Output = Result<Self::Response, Status>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Status>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: tonic::Request<Streaming<Bytes>>) -> Self::Future {
        let method = self.clone();
        Box::pin(async move { method.open(request) })
    }
}

impl Method {
    fn open(
        &self,
        request: tonic::Request<Streaming<Bytes>>,
    ) -> Result<tonic::Response<Replies>, Status> {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(CallShared {
            replies: tx,
            credits: Semaphore::new(PENDING_REQUESTS),
            inline: Mutex::new(None),
        });
        let call = ServerCall {
            shared: shared.clone(),
        };
        let metadata = metadata_pairs(request.metadata());
        let deliver = Python::attach(|py| {
            let call = Py::new(py, call)?;
            self.handlers
                .on_call
                .call1(py, (&*self.name, metadata, call))
        })
        .map_err(|err| {
            tracing::warn!(error = %err, method = %self.name, "on_call failed");
            Status::internal(format!("the endpoint could not start the call: {err}"))
        })?;
        tokio::spawn(feed(
            request.into_inner(),
            self.handlers.clone(),
            deliver,
            shared,
        ));
        let replies = UnboundedReceiverStream::new(rx).map_while(|out| match out {
            Outgoing::Message(data) => Some(Ok(data)),
            Outgoing::End(None) => None,
            // tonic ends the call on the first error: its status and trailers.
            Outgoing::End(Some(status)) => Some(Err(status)),
        });
        Ok(tonic::Response::new(Box::pin(replies) as Replies))
    }
}

fn metadata_pairs(map: &MetadataMap) -> Vec<(String, Vec<u8>)> {
    map.iter()
        .map(|entry| match entry {
            KeyAndValueRef::Ascii(key, value) => {
                (key.as_str().to_owned(), value.as_encoded_bytes().to_vec())
            }
            KeyAndValueRef::Binary(key, value) => (
                key.as_str().to_owned(),
                value.to_bytes().map(|b| b.to_vec()).unwrap_or_default(),
            ),
        })
        .collect()
}

/// Reads the client's requests into Python, in batches of what has arrived, while
/// the handler keeps up; tells it when the input ends and when the client is gone.
async fn feed(
    mut requests: Streaming<Bytes>,
    handlers: Arc<Handlers>,
    deliver: Py<PyAny>,
    call: Arc<CallShared>,
) {
    let replies = &call.replies;
    loop {
        let permit = tokio::select! {
            _ = replies.closed() => break,
            permit = call.credits.acquire() => permit,
        };
        let Ok(permit) = permit else { break };
        permit.forget();
        let message = tokio::select! {
            _ = replies.closed() => break,
            message = requests.message() => message,
        };
        match message {
            Ok(Some(first)) => {
                let mut batch = vec![first];
                while let Ok(permit) = call.credits.try_acquire() {
                    match requests.message().now_or_never() {
                        Some(Ok(Some(next))) => {
                            permit.forget();
                            batch.push(next);
                        }
                        _ => break,
                    }
                }
                if !handlers.hand_over(&call, &deliver, batch) {
                    return;
                }
            }
            Ok(None) => {
                call.set_inline(None);
                if !handlers.schedule(&deliver, END) {
                    return;
                }
                replies.closed().await;
                break;
            }
            // A message the endpoint refuses (too large, malformed framing) ends
            // the call with its status; a reset means the client is gone and
            // nothing reads this.
            Err(status) => {
                let _ = replies.send(Outgoing::End(Some(refusal(status))));
                break;
            }
        }
    }
    call.set_inline(None);
    handlers.schedule(&deliver, GONE);
}

/// The status for a request the decoder refused; a message over the size limit is
/// RESOURCE_EXHAUSTED, as gRPC specifies (tonic says OUT_OF_RANGE).
fn refusal(status: Status) -> Status {
    if status.code() == Code::OutOfRange {
        Status::resource_exhausted(format!(
            "{} (the server's --max-message-mb sets the limit)",
            status.message()
        ))
    } else {
        status
    }
}

// -- the server -----------------------------------------------------------------------

/// Routes the allowed methods to [`Method`]; anything else is UNIMPLEMENTED.
#[derive(Clone)]
struct Router {
    methods: Arc<Vec<Method>>,
    max_message_bytes: usize,
}

impl<B> tower::Service<http::Request<B>> for Router
where
    B: http_body::Body + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future =
        Pin<Box<dyn std::future::Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let path = request.uri().path();
        let method = self.methods.iter().find(|m| *m.name == *path).cloned();
        let limit = self.max_message_bytes;
        Box::pin(async move {
            let Some(method) = method else {
                return Ok(Status::unimplemented("Method not found!").into_http());
            };
            let mut grpc = tonic::server::Grpc::new(RawCodec)
                .max_decoding_message_size(limit)
                .max_encoding_message_size(limit);
            Ok(grpc.streaming(method, request).await)
        })
    }
}

/// A gRPC endpoint whose bidi methods are served by Python handlers on an asyncio
/// loop (see the module documentation).
///
/// Args:
///     host: Interface to bind (port chosen by the system).
///     methods: Full method paths served ("/package.Service/Method").
///     on_call: `on_call(method, metadata, call) -> deliver`, run with the GIL on
///         the endpoint's thread.
///     call_soon_threadsafe: The handlers' loop's `call_soon_threadsafe`.
///     max_message_bytes: Largest message accepted or sent.
///     tls: `(certificate PEM, private key PEM)` to serve TLS, or None.
#[pyclass(module = "remotemedia._runtime")]
pub struct GrpcEndpoint {
    port: u16,
    shutdown: Mutex<Option<oneshot::Sender<()>>>,
    runtime: Mutex<Option<tokio::runtime::Runtime>>,
}

#[pymethods]
impl GrpcEndpoint {
    #[new]
    #[pyo3(signature = (host, methods, on_call, call_soon_threadsafe, max_message_bytes, tls = None))]
    fn new(
        py: Python<'_>,
        host: &str,
        methods: Vec<String>,
        on_call: Py<PyAny>,
        call_soon_threadsafe: Py<PyAny>,
        max_message_bytes: usize,
        tls: Option<(Vec<u8>, Vec<u8>)>,
    ) -> PyResult<Self> {
        let listener = StdListener::bind((host, 0))
            .map_err(|err| PyOSError::new_err(format!("cannot bind {host}: {err}")))?;
        let port = listener
            .local_addr()
            .map_err(|err| PyOSError::new_err(err.to_string()))?
            .port();
        listener
            .set_nonblocking(true)
            .map_err(|err| PyOSError::new_err(err.to_string()))?;
        let handlers = Arc::new(Handlers {
            on_call,
            call_soon: call_soon_threadsafe,
        });
        let router = Router {
            methods: Arc::new(
                methods
                    .into_iter()
                    .map(|name| Method {
                        name: name.into(),
                        handlers: handlers.clone(),
                    })
                    .collect(),
            ),
            max_message_bytes,
        };
        let mut builder = tonic::transport::Server::builder();
        if let Some((cert, key)) = tls {
            let identity = tonic::transport::Identity::from_pem(cert, key);
            builder = builder
                .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
                .map_err(|err| {
                    PyValueError::new_err(format!("bad TLS certificate or key: {err}"))
                })?;
        }
        // One thread: a frame's work is Python's, and one thread keeps its hand-off
        // to the loop free of work stealing.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("remotemedia-endpoint")
            .enable_io()
            .enable_time()
            .build()
            .map_err(|err| PyOSError::new_err(format!("cannot start the endpoint: {err}")))?;
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let serving = py.detach(|| {
            runtime.block_on(async {
                let listener = tokio::net::TcpListener::from_std(listener)?;
                // Frames are small and latency-bound: no Nagle delay.
                let incoming =
                    tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
                std::io::Result::Ok(
                    builder.serve_with_incoming_shutdown(router, incoming, async {
                        let _ = stop_rx.await;
                    }),
                )
            })
        });
        let serving = serving.map_err(|err| PyOSError::new_err(err.to_string()))?;
        runtime.spawn(async move {
            if let Err(err) = serving.await {
                tracing::warn!(error = %err, "the endpoint stopped with an error");
            }
        });
        Ok(Self {
            port,
            shutdown: Mutex::new(Some(stop_tx)),
            runtime: Mutex::new(Some(runtime)),
        })
    }

    /// The bound port.
    #[getter]
    fn port(&self) -> u16 {
        self.port
    }

    /// Stops accepting calls, lets calls in flight end for up to `grace_s`, then
    /// drops the rest. Idempotent.
    #[pyo3(signature = (grace_s = 0.0))]
    fn stop(&self, py: Python<'_>, grace_s: f64) {
        if let Some(stop) = self.shutdown.lock().ok().and_then(|mut s| s.take()) {
            let _ = stop.send(());
        }
        let runtime = self.runtime.lock().ok().and_then(|mut r| r.take());
        if let Some(runtime) = runtime {
            let grace = Duration::from_secs_f64(grace_s.max(0.0));
            py.detach(|| runtime.shutdown_timeout(grace));
        }
    }
}

impl Drop for GrpcEndpoint {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.get_mut().ok().and_then(|r| r.take()) {
            runtime.shutdown_background();
        }
    }
}

/// Registers the endpoint's classes and `deliver` kinds.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<GrpcEndpoint>()?;
    m.add_class::<ServerCall>()?;
    m.add("CALL_MESSAGES", MESSAGES)?;
    m.add("CALL_END", END)?;
    m.add("CALL_GONE", GONE)?;
    Ok(())
}
