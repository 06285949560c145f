//! Native nodes: the same registry names, parameters and semantics as the Python
//! nodes in `remotemedia.nodes` (audio, vad, features).

use serde_json::{Map, Value as Json};

use crate::error::{Error, NodeFailure, Result};
use crate::frame::{Audio, Value};
use crate::manifest::NodeEntry;

pub mod clip;
pub mod filter;
pub mod level;
pub mod mix;
pub mod resample;
pub mod spectral;
pub mod vad;

/// Outputs of one native call, or its failure.
pub type NodeResult = std::result::Result<Vec<Value>, NodeFailure>;

/// A node implemented in Rust. Streaming state persists across `process` calls and
/// is reset by `flush`.
pub trait NativeNode: Send {
    /// Processes one frame.
    fn process(&mut self, input: Audio) -> NodeResult;

    /// Emits what is held at the end of a stream and resets state.
    fn flush(&mut self) -> NodeResult {
        Ok(Vec::new())
    }
}

/// Registry names of the node types that have a native implementation.
pub const NATIVE_TYPES: &[&str] = &[
    "ChannelMix",
    "EnergyVAD",
    "Gain",
    "HighPass",
    "LowPass",
    "MelSpectrogram",
    "Normalize",
    "Rebuffer",
    "Resample",
    "STFT",
    "TrimSilence",
];

/// How a manifest entry maps onto the native nodes.
pub enum Build {
    /// Runs natively.
    Native(Box<dyn NativeNode>),
    /// Not native (type or an option the native node lacks): runs as Python.
    Python(String),
}

/// Builds the native node for a manifest entry, if there is one.
///
/// # Errors
/// [`Error::Manifest`] naming the node and field when a native node's config is
/// invalid (a wrong type or an out-of-range value).
pub fn build(entry: &NodeEntry) -> Result<Build> {
    let cfg = Config::new(entry);
    let node: Box<dyn NativeNode> = match entry.type_name.as_str() {
        "Gain" => Box::new(level::Gain::from_config(&cfg)?),
        // Clip-level nodes gather each clip of a stream (see clip.rs).
        "Normalize" => Box::new(clip::Gather::new(level::Normalize::from_config(&cfg)?)),
        "ChannelMix" => Box::new(mix::ChannelMix::from_config(&cfg)?),
        "Rebuffer" => Box::new(mix::Rebuffer::from_config(&cfg)?),
        "HighPass" => Box::new(filter::Butterworth::from_config(&cfg, filter::Kind::High)?),
        "LowPass" => Box::new(filter::Butterworth::from_config(&cfg, filter::Kind::Low)?),
        "Resample" => Box::new(resample::Resample::from_config(&cfg)?),
        "EnergyVAD" => Box::new(vad::EnergyVad::from_config(&cfg)?),
        "TrimSilence" => Box::new(clip::Gather::new(vad::TrimSilence::from_config(&cfg)?)),
        "STFT" => Box::new(spectral::Stft::from_config(&cfg)?),
        "MelSpectrogram" => Box::new(spectral::MelSpectrogram::from_config(&cfg)?),
        other => return Ok(Build::Python(format!("no native {other}"))),
    };
    if let Some(field) = cfg.unread_field() {
        // The Python node may know this option; let it decide.
        return Ok(Build::Python(format!("native node lacks field '{field}'")));
    }
    Ok(Build::Native(node))
}

/// Typed access to a node entry's config, with errors naming node and field.
pub struct Config<'a> {
    id: &'a str,
    type_name: &'a str,
    map: &'a Map<String, Json>,
    read: std::cell::RefCell<Vec<&'a str>>,
}

/// Python-style `repr` of a JSON value, for error messages.
pub fn py_repr(value: &Json) -> String {
    match value {
        Json::Null => "None".into(),
        Json::Bool(true) => "True".into(),
        Json::Bool(false) => "False".into(),
        Json::String(s) => format!("'{s}'"),
        other => other.to_string(),
    }
}

impl<'a> Config<'a> {
    /// Wraps an entry's config.
    pub fn new(entry: &'a NodeEntry) -> Self {
        Config {
            id: &entry.id,
            type_name: &entry.type_name,
            map: &entry.config,
            read: std::cell::RefCell::new(Vec::new()),
        }
    }

    /// The node id.
    pub fn id(&self) -> &str {
        self.id
    }

    fn get(&self, field: &'a str) -> Option<&'a Json> {
        self.read.borrow_mut().push(field);
        self.map.get(field).filter(|v| !v.is_null())
    }

    fn unread_field(&self) -> Option<&str> {
        let read = self.read.borrow();
        self.map
            .keys()
            .find(|k| !read.contains(&k.as_str()))
            .map(String::as_str)
    }

    fn type_error(&self, field: &str, expected: &str, got: &Json) -> Error {
        Error::manifest(format!(
            "node '{}', field '{}': expected {}, got {}",
            self.id,
            field,
            expected,
            py_repr(got)
        ))
    }

    fn missing(&self, field: &str) -> Error {
        Error::manifest(format!(
            "node '{}': missing required config field '{}' for {}",
            self.id, field, self.type_name
        ))
    }

    /// A bad-value error worded like the Python nodes' `ValueError`s.
    pub fn invalid(&self, field: &str, requirement: &str, got: impl std::fmt::Display) -> Error {
        Error::manifest(format!(
            "node '{}' ({}): bad config: {}: {} {}, got {}",
            self.id, self.type_name, self.type_name, field, requirement, got
        ))
    }

    /// A float field (ints accepted); `None` when absent or null.
    pub fn opt_f64(&self, field: &'a str) -> Result<Option<f64>> {
        match self.get(field) {
            None => Ok(None),
            Some(v @ Json::Number(n)) => n
                .as_f64()
                .map(Some)
                .ok_or_else(|| self.type_error(field, "float", v)),
            Some(v) => Err(self.type_error(field, "float", v)),
        }
    }

    /// A float field with a default.
    pub fn f64_or(&self, field: &'a str, default: f64) -> Result<f64> {
        Ok(self.opt_f64(field)?.unwrap_or(default))
    }

    /// A required float field.
    pub fn f64_required(&self, field: &'a str) -> Result<f64> {
        self.opt_f64(field)?.ok_or_else(|| self.missing(field))
    }

    /// A finite float field with a default, refusing NaN and infinities.
    pub fn finite_or(&self, field: &'a str, default: f64) -> Result<f64> {
        let value = self.f64_or(field, default)?;
        if !value.is_finite() {
            return Err(self.invalid(field, "must be a finite number", value));
        }
        Ok(value)
    }

    /// An integer field; `None` when absent or null.
    pub fn opt_i64(&self, field: &'a str) -> Result<Option<i64>> {
        match self.get(field) {
            None => Ok(None),
            Some(v @ Json::Number(n)) => n
                .as_i64()
                .map(Some)
                .ok_or_else(|| self.type_error(field, "int", v)),
            Some(v) => Err(self.type_error(field, "int", v)),
        }
    }

    /// A positive integer field with a default.
    pub fn positive_or(&self, field: &'a str, default: Option<i64>) -> Result<usize> {
        let value = match (self.opt_i64(field)?, default) {
            (Some(v), _) | (None, Some(v)) => v,
            (None, None) => return Err(self.missing(field)),
        };
        if value < 1 {
            return Err(self.invalid(field, "must be a positive integer", value));
        }
        Ok(value as usize)
    }

    /// A bool field with a default.
    pub fn bool_or(&self, field: &'a str, default: bool) -> Result<bool> {
        match self.get(field) {
            None => Ok(default),
            Some(Json::Bool(b)) => Ok(*b),
            Some(v) => Err(self.type_error(field, "bool", v)),
        }
    }

    /// A string field with a default.
    pub fn str_or(&self, field: &'a str, default: &'a str) -> Result<&'a str> {
        match self.get(field) {
            None => Ok(default),
            Some(Json::String(s)) => Ok(s),
            Some(v) => Err(self.type_error(field, "str", v)),
        }
    }

    /// Marks a field as read without using it (an option the node accepts but
    /// that makes no difference natively).
    pub fn has(&self, field: &'a str) -> bool {
        self.get(field).is_some()
    }
}

/// Number of samples in `ms` milliseconds at `rate`, as `round(rate*ms/1000)`.
pub fn ms_to_samples(rate: u32, ms: f64) -> usize {
    round_half_even(f64::from(rate) * ms / 1000.0) as usize
}

/// Python's `round()`: halves go to the even neighbour.
pub fn round_half_even(x: f64) -> f64 {
    let r = x.round();
    if (x - x.trunc()).abs() == 0.5 {
        2.0 * (x / 2.0).round()
    } else {
        r
    }
}

/// Deterministic noise in [-0.5, 0.5) (xorshift), for the nodes' tests.
#[cfg(test)]
pub(crate) fn test_noise(n: usize, seed: u32) -> Vec<f32> {
    let mut s = seed | 1;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            s as f32 / u32::MAX as f32 - 0.5
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_matches_python() {
        assert_eq!(round_half_even(2.5), 2.0);
        assert_eq!(round_half_even(3.5), 4.0);
        assert_eq!(round_half_even(-2.5), -2.0);
        assert_eq!(round_half_even(2.4), 2.0);
        assert_eq!(ms_to_samples(16000, 20.0), 320);
        assert_eq!(ms_to_samples(44100, 10.0), 441);
    }

    #[test]
    fn py_repr_quotes_like_python() {
        assert_eq!(py_repr(&Json::String("x".into())), "'x'");
        assert_eq!(py_repr(&Json::Bool(true)), "True");
        assert_eq!(py_repr(&serde_json::json!(1.5)), "1.5");
    }
}
