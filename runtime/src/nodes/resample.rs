//! Band-limited streaming resampler (rubato's FFT resampler).
//!
//! The resampler's own delay is removed and the tail is drained on flush, so the
//! output lines up with the input in time and has `round(n_in * out/in)` samples in
//! total, like soxr's stream with `last=True`.

use rubato::{FftFixedIn, Resampler};

use super::{Config, NativeNode, NodeResult};
use crate::error::{NodeFailure, Result};
use crate::frame::{Audio, Value};

/// Resampler quality; larger FFT blocks give longer, sharper filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quality {
    /// Medium quality, lowest latency.
    Mq,
    /// High quality (default).
    Hq,
    /// Very high quality.
    Vhq,
}

impl Quality {
    fn block(self) -> usize {
        match self {
            Quality::Mq => 256,
            Quality::Hq => 1024,
            Quality::Vhq => 4096,
        }
    }
}

/// The Resample node.
pub struct Resample {
    target: u32,
    quality: Quality,
    stream: Option<Stream>,
}

struct Stream {
    in_rate: u32,
    channels: usize,
    resampler: FftFixedIn<f32>,
    chunk: usize,
    pending: Vec<Vec<f32>>,
    out: Vec<Vec<f32>>,
    /// Leading output samples still to drop (the filter delay).
    skip: usize,
    total_in: u64,
    total_out: u64,
    origin_ts: f64,
}

impl Resample {
    /// Builds from a manifest config (`target_rate`, `quality`).
    pub fn from_config(cfg: &Config) -> Result<Self> {
        let target = cfg.positive_or("target_rate", None)?;
        let target = u32::try_from(target)
            .map_err(|_| cfg.invalid("target_rate", "must fit in 32 bits", target))?;
        let quality = match cfg.str_or("quality", "HQ")? {
            "MQ" => Quality::Mq,
            "HQ" => Quality::Hq,
            "VHQ" => Quality::Vhq,
            other => {
                return Err(cfg.invalid(
                    "quality",
                    "must be one of 'HQ', 'VHQ', 'MQ'",
                    format!("'{other}'"),
                ))
            }
        };
        Ok(Resample::new(target, quality))
    }

    /// A resampler to `target` Hz.
    pub fn new(target: u32, quality: Quality) -> Self {
        Resample {
            target,
            quality,
            stream: None,
        }
    }

    fn open(&self, input: &Audio) -> std::result::Result<Stream, NodeFailure> {
        let channels = input.channels();
        let (rate_in, rate_out) = (input.rate as usize, self.target as usize);
        let gcd = gcd(rate_in, rate_out);
        let (unit_in, unit_out) = (rate_in / gcd, rate_out / gcd);
        // A power-of-two number (>= 2) of whole FFT units: even FFT sizes on both
        // sides (rubato's FFT resampler is inaccurate with odd ones) that factor
        // well (fast FFTs).
        let units = self
            .quality
            .block()
            .div_ceil(unit_in)
            .next_power_of_two()
            .max(2);
        debug_assert!((units * unit_in) % 2 == 0 && (units * unit_out) % 2 == 0);
        let resampler = FftFixedIn::<f32>::new(rate_in, rate_out, units * unit_in, 1, channels)
            .map_err(|e| NodeFailure::value(format!("Resample: {e}")))?;
        let chunk = resampler.input_frames_next();
        let out = resampler.output_buffer_allocate(true);
        Ok(Stream {
            in_rate: input.rate,
            channels,
            skip: resampler.output_delay(),
            resampler,
            chunk,
            pending: vec![Vec::with_capacity(2 * chunk); channels],
            out,
            total_in: 0,
            total_out: 0,
            origin_ts: input.timestamp,
        })
    }

    fn finish(&mut self) -> std::result::Result<Vec<Value>, NodeFailure> {
        let Some(mut stream) = self.stream.take() else {
            return Ok(Vec::new());
        };
        let expected = (stream.total_in as f64 * f64::from(self.target) / f64::from(stream.in_rate))
            .round() as u64;
        let mut produced: Vec<Vec<f32>> = vec![Vec::new(); stream.channels];
        // Push silence until the delayed tail has come out.
        let mut guard = 0;
        while stream.total_out + (produced[0].len() as u64) < expected && guard < 64 {
            let need = stream.chunk - stream.pending[0].len();
            for ch in &mut stream.pending {
                ch.resize(ch.len() + need, 0.0);
            }
            stream.run(&mut produced)?;
            guard += 1;
        }
        let keep = (expected - stream.total_out) as usize;
        for ch in &mut produced {
            ch.truncate(keep);
        }
        Ok(stream.emit(produced, self.target).into_iter().collect())
    }
}

fn gcd(mut a: usize, mut b: usize) -> usize {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl Stream {
    /// Resamples every full chunk of pending input into `produced`.
    fn run(&mut self, produced: &mut [Vec<f32>]) -> std::result::Result<(), NodeFailure> {
        let mut start = 0;
        while self.pending[0].len() - start >= self.chunk {
            let input: Vec<&[f32]> = self
                .pending
                .iter()
                .map(|ch| &ch[start..start + self.chunk])
                .collect();
            let (_, written) = self
                .resampler
                .process_into_buffer(&input, &mut self.out, None)
                .map_err(|e| NodeFailure::value(format!("Resample: {e}")))?;
            let drop = self.skip.min(written);
            self.skip -= drop;
            for (dst, src) in produced.iter_mut().zip(&self.out) {
                dst.extend_from_slice(&src[drop..written]);
            }
            start += self.chunk;
        }
        for ch in &mut self.pending {
            ch.drain(..start);
        }
        Ok(())
    }

    fn emit(&mut self, produced: Vec<Vec<f32>>, target: u32) -> Option<Value> {
        let n = produced[0].len();
        if n == 0 {
            return None;
        }
        let ts = self.origin_ts + self.total_out as f64 / f64::from(target);
        self.total_out += n as u64;
        Some(Value::Audio(Audio::from_channels(&produced, target, ts)))
    }
}

impl NativeNode for Resample {
    fn process(&mut self, input: Audio) -> NodeResult {
        let mut outputs = Vec::new();
        let format_changed = self
            .stream
            .as_ref()
            .is_some_and(|s| s.in_rate != input.rate || s.channels != input.channels());
        if format_changed {
            outputs.extend(self.finish()?);
        }
        if input.rate == self.target {
            outputs.push(Value::Audio(input));
            return Ok(outputs);
        }
        if self.stream.is_none() {
            self.stream = Some(self.open(&input)?);
        }
        let stream = self.stream.as_mut().expect("opened above");
        for (buf, ch) in stream.pending.iter_mut().zip(input.channel_slices()) {
            buf.extend_from_slice(ch);
        }
        stream.total_in += input.frames() as u64;
        let mut produced = vec![Vec::new(); stream.channels];
        stream.run(&mut produced)?;
        outputs.extend(stream.emit(produced, self.target));
        Ok(outputs)
    }

    fn flush(&mut self) -> NodeResult {
        self.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(rate: u32, freq: f64, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| {
                (0.5 * (2.0 * std::f64::consts::PI * freq * i as f64 / f64::from(rate)).sin())
                    as f32
            })
            .collect()
    }

    #[test]
    fn resamples_with_exact_length_and_alignment() {
        let mut r = Resample::new(16000, Quality::Hq);
        let x = tone(48000, 440.0, 48000);
        let mut out = Vec::new();
        for (k, chunk) in x.chunks(960).enumerate() {
            let frame = Audio::new(chunk.to_vec(), 1, 48000, k as f64 * 0.02);
            for v in r.process(frame).unwrap() {
                if let Value::Audio(a) = v {
                    assert!((a.timestamp - out.len() as f64 / 16000.0).abs() < 1e-9);
                    out.extend_from_slice(a.data());
                }
            }
        }
        for v in r.flush().unwrap() {
            if let Value::Audio(a) = v {
                out.extend_from_slice(a.data());
            }
        }
        assert_eq!(out.len(), 16000);
        // Compare with the ideal tone in the steady-state middle.
        let ideal = tone(16000, 440.0, 16000);
        let (mut sig, mut err) = (0.0f64, 0.0f64);
        for i in 2000..14000 {
            sig += f64::from(ideal[i]).powi(2);
            err += f64::from(out[i] - ideal[i]).powi(2);
        }
        let snr = 10.0 * (sig / err).log10();
        assert!(snr > 40.0, "snr {snr}");
    }

    #[test]
    fn odd_unit_rates_stay_accurate() {
        // 44100 -> 16000 has 441-sample units: the FFT size must be made even.
        let mut r = Resample::new(16000, Quality::Hq);
        let x = tone(44100, 1000.0, 44100);
        let mut out = Vec::new();
        for chunk in x.chunks(441) {
            for v in r
                .process(Audio::new(chunk.to_vec(), 1, 44100, 0.0))
                .unwrap()
            {
                if let Value::Audio(a) = v {
                    out.extend_from_slice(a.data());
                }
            }
        }
        let ideal = tone(16000, 1000.0, out.len());
        let (mut sig, mut err) = (0.0f64, 0.0f64);
        for i in 2000..out.len() - 2000 {
            sig += f64::from(ideal[i]).powi(2);
            err += f64::from(out[i] - ideal[i]).powi(2);
        }
        assert!(10.0 * (sig / err).log10() > 40.0);
    }

    #[test]
    fn same_rate_passes_through() {
        let mut r = Resample::new(16000, Quality::Hq);
        let out = r
            .process(Audio::new(vec![0.25; 10], 1, 16000, 1.0))
            .unwrap();
        assert_eq!(out.len(), 1);
        assert!(r.flush().unwrap().is_empty());
    }
}
