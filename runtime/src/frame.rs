//! Values that flow between nodes inside the runtime.
//!
//! Audio is stored channel-major (`channels` rows of `frames` samples, contiguous),
//! the layout of a C-contiguous numpy `(channels, n)` float32 array, so frames can
//! cross the Python boundary without copies in either direction.

use std::borrow::Cow;
use std::sync::Arc;

use pyo3::prelude::*;

use crate::error::NodeErrorRecord;

/// Read-only view of a numpy buffer, kept alive by a reference to its owner.
///
/// The runtime never writes through the pointer. Python code that mutates a frame
/// in place while the runtime processes it races, exactly as with any numpy
/// operation that releases the GIL.
pub struct NumpyView {
    owner: Py<PyAny>,
    ptr: *const f32,
    len: usize,
}

// SAFETY: the buffer is owned by `owner` (a numpy array whose reference we hold, so
// it cannot be freed or reallocated) and is only ever read.
unsafe impl Send for NumpyView {}
// SAFETY: as above; shared reads of immutable memory are thread-safe.
unsafe impl Sync for NumpyView {}

impl NumpyView {
    /// Wraps `len` floats at `ptr` owned by `owner`.
    ///
    /// # Safety
    /// `ptr..ptr+len` must be a valid, aligned f32 buffer owned by `owner` for as
    /// long as `owner` is alive.
    pub unsafe fn new(owner: Py<PyAny>, ptr: *const f32, len: usize) -> Self {
        NumpyView { owner, ptr, len }
    }

    /// The numpy array that owns the buffer.
    pub fn owner(&self) -> &Py<PyAny> {
        &self.owner
    }

    fn as_slice(&self) -> &[f32] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: guaranteed by the constructor's contract.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

/// Sample storage: owned by Rust, or borrowed from a numpy array.
pub enum Samples {
    /// Samples computed by the runtime.
    Owned(Vec<f32>),
    /// Samples of a Python frame, read in place.
    Shared(Arc<NumpyView>),
}

impl Samples {
    /// All samples, channel-major.
    pub fn as_slice(&self) -> &[f32] {
        match self {
            Samples::Owned(v) => v,
            Samples::Shared(view) => view.as_slice(),
        }
    }

    /// Takes the samples as a Vec, copying only when they are borrowed.
    pub fn into_vec(self) -> Vec<f32> {
        match self {
            Samples::Owned(v) => v,
            Samples::Shared(view) => view.as_slice().to_vec(),
        }
    }
}

/// A block of float32 audio, `(channels, frames)`, channel-major.
pub struct Audio {
    samples: Samples,
    channels: usize,
    /// Samples per second per channel.
    pub rate: u32,
    /// Time of the first sample, in seconds.
    pub timestamp: f64,
    /// The Python frame these exact samples and metadata came from, returned as is
    /// when the frame leaves the runtime unchanged.
    origin: Option<Py<PyAny>>,
}

impl Audio {
    /// Builds a frame from channel-major samples.
    ///
    /// # Panics
    /// If `channels` is 0 or does not divide the sample count (a runtime bug).
    pub fn new(samples: Vec<f32>, channels: usize, rate: u32, timestamp: f64) -> Self {
        assert!(channels > 0 && samples.len().is_multiple_of(channels));
        Audio {
            samples: Samples::Owned(samples),
            channels,
            rate,
            timestamp,
            origin: None,
        }
    }

    /// Builds a frame from per-channel vectors of equal length.
    pub fn from_channels(channels: &[Vec<f32>], rate: u32, timestamp: f64) -> Self {
        let n = channels.first().map_or(0, Vec::len);
        let mut samples = Vec::with_capacity(n * channels.len());
        for ch in channels {
            samples.extend_from_slice(&ch[..n]);
        }
        Audio::new(samples, channels.len().max(1), rate, timestamp)
    }

    /// A frame over existing storage, remembering the Python frame it came from.
    pub fn from_samples(
        samples: Samples,
        channels: usize,
        rate: u32,
        timestamp: f64,
        origin: Option<Py<PyAny>>,
    ) -> Self {
        assert!(channels > 0 && samples.as_slice().len().is_multiple_of(channels));
        Audio {
            samples,
            channels,
            rate,
            timestamp,
            origin,
        }
    }

    /// Number of channels.
    pub fn channels(&self) -> usize {
        self.channels
    }

    /// Samples per channel.
    pub fn frames(&self) -> usize {
        self.samples.as_slice().len() / self.channels
    }

    /// Duration in seconds.
    pub fn duration(&self) -> f64 {
        self.frames() as f64 / f64::from(self.rate)
    }

    /// All samples, channel-major.
    pub fn data(&self) -> &[f32] {
        self.samples.as_slice()
    }

    /// One channel's samples.
    pub fn channel(&self, index: usize) -> &[f32] {
        let n = self.frames();
        &self.data()[index * n..(index + 1) * n]
    }

    /// Iterates over the channels' samples.
    pub fn channel_slices(&self) -> impl Iterator<Item = &[f32]> {
        let n = self.frames().max(1);
        self.data().chunks(n).take(self.channels)
    }

    /// The mono mix (mean of the channels), in float32 like `AudioFrame.to_mono`;
    /// a mono frame's own samples, uncopied.
    pub fn mono(&self) -> Cow<'_, [f32]> {
        if self.channels == 1 {
            return Cow::Borrowed(self.data());
        }
        // numpy's float32 mean over axis 0: rows added in order, then divided.
        let mut rows = self.channel_slices();
        let mut sum = rows.next().map(<[f32]>::to_vec).unwrap_or_default();
        for row in rows {
            for (acc, &x) in sum.iter_mut().zip(row) {
                *acc += x;
            }
        }
        let count = self.channels as f32;
        sum.iter_mut().for_each(|s| *s /= count);
        Cow::Owned(sum)
    }

    /// The Python frame this came from, if unchanged.
    pub fn origin(&self) -> Option<&Py<PyAny>> {
        self.origin.as_ref()
    }

    /// The storage, for conversion back to Python.
    pub fn samples(&self) -> &Samples {
        &self.samples
    }

    /// Splits the frame into its storage and metadata.
    pub fn into_parts(self) -> (Samples, usize, u32, f64) {
        (self.samples, self.channels, self.rate, self.timestamp)
    }

    /// Applies `f` to the samples in place when Rust owns them (copying borrowed
    /// samples first) and returns the changed frame, no longer tied to a Python
    /// frame. `f` gets the samples channel-major and the samples per channel.
    pub fn modified(self, f: impl FnOnce(&mut [f32], usize)) -> Audio {
        let frames = self.frames();
        let mut data = self.samples.into_vec();
        f(&mut data, frames);
        Audio {
            samples: Samples::Owned(data),
            channels: self.channels,
            rate: self.rate,
            timestamp: self.timestamp,
            origin: None,
        }
    }

    /// Takes the samples as an owned Vec (copies only borrowed samples).
    pub fn into_vec(self) -> Vec<f32> {
        self.samples.into_vec()
    }

    /// `AudioFrame.describe()`, used in error records.
    pub fn describe(&self) -> String {
        self.describe_later().to_string()
    }

    /// The metadata [`Audio::describe`] prints, formatted only when displayed.
    pub fn describe_later(&self) -> Description {
        Description {
            channels: self.channels,
            rate: self.rate,
            frames: self.frames(),
            timestamp: self.timestamp,
        }
    }
}

impl std::fmt::Debug for Audio {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

/// Metadata of a frame, displayed like `AudioFrame.describe()`.
#[derive(Debug, Clone, Copy)]
pub struct Description {
    channels: usize,
    rate: u32,
    frames: usize,
    timestamp: f64,
}

impl std::fmt::Display for Description {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "AudioFrame({}ch, {} Hz, {:.1} ms, t={:.3}s)",
            self.channels,
            self.rate,
            self.frames as f64 * 1000.0 / f64::from(self.rate),
            self.timestamp
        )
    }
}

/// Kinds of spectrogram, as in `remotemedia.nodes.features.Spectrogram.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpectrogramKind {
    /// Magnitude STFT.
    Stft,
    /// Mel power (or dB) spectrogram.
    Mel,
}

impl SpectrogramKind {
    /// The Python name of the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            SpectrogramKind::Stft => "stft",
            SpectrogramKind::Mel => "mel",
        }
    }
}

/// A time-frequency matrix `(bins, frames)`, row-major.
#[derive(Debug, Clone)]
pub struct Spectrogram {
    /// Values, `bins` rows of `frames` columns.
    pub values: Vec<f32>,
    /// Number of frequency bins (rows).
    pub bins: usize,
    /// Number of time frames (columns).
    pub frames: usize,
    /// Sample rate of the analysed audio.
    pub sample_rate: u32,
    /// Hop between frames, in samples.
    pub hop_length: usize,
    /// FFT size.
    pub n_fft: usize,
    /// What the rows are.
    pub kind: SpectrogramKind,
    /// Whether values are in dB.
    pub db: bool,
    /// Time of the first frame's centre, in seconds (the input's timestamp).
    pub timestamp: f64,
    /// Lowest mel band edge (mel only).
    pub fmin: Option<f64>,
    /// Highest mel band edge (mel only).
    pub fmax: Option<f64>,
}

/// A value flowing between stages.
pub enum Value {
    /// Audio the native nodes understand.
    Audio(Audio),
    /// A spectrogram made by a native node.
    Spectrogram(Spectrogram),
    /// Any other Python value; native nodes refuse it, Python nodes take it as is.
    Py(Py<PyAny>),
    /// A failure record, passed through by every later node.
    Error(Box<NodeErrorRecord>),
}

impl Value {
    /// Short description of the value, for error records.
    pub fn summary(&self) -> String {
        match self {
            Value::Audio(a) => a.describe(),
            Value::Spectrogram(s) => format!(
                "Spectrogram({}, {} bins x {} frames)",
                s.kind.as_str(),
                s.bins,
                s.frames
            ),
            Value::Py(_) => "<Python value>".to_string(),
            Value::Error(_) => "<NodeError>".to_string(),
        }
    }

    /// A short type name for messages ("AudioFrame", "Spectrogram", ...).
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Audio(_) => "AudioFrame",
            Value::Spectrogram(_) => "Spectrogram",
            Value::Py(_) => "a Python value",
            Value::Error(_) => "NodeError",
        }
    }
}

impl std::fmt::Debug for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.summary())
    }
}
