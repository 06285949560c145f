//! Band-limited streaming resampler.
//!
//! Rate pairs whose reduced ratio has a small upsampling factor (48k->16k,
//! 16k->48k, 22.05k->44.1k ...) use a polyphase FIR (Kaiser-windowed sinc designed
//! once per stream, one short dot product per output sample); the others use
//! rubato's FFT resampler.
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
    kernel: Kernel,
    total_in: u64,
    total_out: u64,
    origin_ts: f64,
}

enum Kernel {
    Fft(Box<FftKernel>),
    Poly(Polyphase),
}

struct FftKernel {
    resampler: FftFixedIn<f32>,
    chunk: usize,
    pending: Vec<Vec<f32>>,
    out: Vec<Vec<f32>>,
    /// Leading output samples still to drop (the filter delay).
    skip: usize,
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
        let kernel = if unit_out <= POLY_MAX_UP && unit_in <= POLY_MAX_DOWN {
            Kernel::Poly(Polyphase::new(unit_out, unit_in, self.quality, channels))
        } else {
            Kernel::Fft(Box::new(
                self.open_fft(rate_in, rate_out, unit_in, unit_out, channels)?,
            ))
        };
        Ok(Stream {
            in_rate: input.rate,
            channels,
            kernel,
            total_in: 0,
            total_out: 0,
            origin_ts: input.timestamp,
        })
    }

    fn open_fft(
        &self,
        rate_in: usize,
        rate_out: usize,
        unit_in: usize,
        unit_out: usize,
        channels: usize,
    ) -> std::result::Result<FftKernel, NodeFailure> {
        // A power-of-two number (>= 2) of whole FFT units: even FFT sizes on both
        // sides (rubato's FFT resampler is inaccurate with odd ones) that factor
        // well (fast FFTs).
        let units = self
            .quality
            .block()
            .div_ceil(unit_in)
            .next_power_of_two()
            .max(2);
        debug_assert!((units * unit_in).is_multiple_of(2) && (units * unit_out).is_multiple_of(2));
        let resampler = FftFixedIn::<f32>::new(rate_in, rate_out, units * unit_in, 1, channels)
            .map_err(|e| NodeFailure::value(format!("Resample: {e}")))?;
        let chunk = resampler.input_frames_next();
        let out = resampler.output_buffer_allocate(true);
        Ok(FftKernel {
            skip: resampler.output_delay(),
            resampler,
            chunk,
            pending: vec![Vec::with_capacity(2 * chunk); channels],
            out,
        })
    }

    fn finish(&mut self) -> std::result::Result<Vec<Value>, NodeFailure> {
        let Some(mut stream) = self.stream.take() else {
            return Ok(Vec::new());
        };
        let expected = (stream.total_in as f64 * f64::from(self.target) / f64::from(stream.in_rate))
            .round() as u64;
        let mut produced: Vec<Vec<f32>> = vec![Vec::new(); stream.channels];
        match &mut stream.kernel {
            Kernel::Fft(fft) => {
                // Push silence until the delayed tail has come out.
                let mut guard = 0;
                while stream.total_out + (produced[0].len() as u64) < expected && guard < 64 {
                    let need = fft.chunk - fft.pending[0].len();
                    for ch in &mut fft.pending {
                        ch.resize(ch.len() + need, 0.0);
                    }
                    fft.run(&mut produced)?;
                    guard += 1;
                }
            }
            Kernel::Poly(poly) => poly.drain(expected, &mut produced),
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

impl FftKernel {
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
}

impl Stream {
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
        stream.total_in += input.frames() as u64;
        let mut produced = vec![Vec::new(); stream.channels];
        match &mut stream.kernel {
            Kernel::Fft(fft) => {
                for (buf, ch) in fft.pending.iter_mut().zip(input.channel_slices()) {
                    buf.extend_from_slice(ch);
                }
                fft.run(&mut produced)?;
            }
            Kernel::Poly(poly) => poly.push(input.channel_slices(), &mut produced),
        }
        outputs.extend(stream.emit(produced, self.target));
        Ok(outputs)
    }

    fn flush(&mut self) -> NodeResult {
        self.finish()
    }
}

/// Largest reduced upsampling factor served by the polyphase FIR (the filter bank
/// holds this many phases).
const POLY_MAX_UP: usize = 16;
/// Largest reduced downsampling factor served by the polyphase FIR (each output
/// sample costs taps proportional to it).
const POLY_MAX_DOWN: usize = 16;

impl Quality {
    /// Polyphase filter spec: (flat passband as a fraction of the lower Nyquist,
    /// stopband attenuation in dB).
    fn fir_spec(self) -> (f64, f64) {
        match self {
            Quality::Mq => (0.75, 80.0),
            Quality::Hq => (0.8, 100.0),
            Quality::Vhq => (0.85, 120.0),
        }
    }
}

/// Streaming rational resampler, `up/down` (reduced): a Kaiser-windowed sinc at
/// `up * in_rate` cut off at the lower Nyquist, split into `up` phases.
///
/// Output sample `k` sits at input time `k * down / up` exactly (the filter is
/// centred, zeros before the stream's start), so there is no delay to remove.
/// The transition band is symmetric around the lower Nyquist: what folds back
/// lands above the flat passband only.
struct Polyphase {
    up: usize,
    down: usize,
    /// Taps per phase (a multiple of 8).
    taps: usize,
    /// Filter centre, in samples at the upsampled rate.
    centre: u64,
    /// `up` rows of `taps`, each reversed so that output = dot(row, window).
    bank: Vec<f32>,
    /// Per channel: input samples from absolute index `base` on.
    history: Vec<Vec<f32>>,
    base: i64,
    /// Index of the next output sample.
    next: u64,
}

impl Polyphase {
    fn new(up: usize, down: usize, quality: Quality, channels: usize) -> Self {
        let (pass, atten) = quality.fir_spec();
        let fs_up = up as f64; // rates relative to the input rate
        let nyquist = 0.5 * (up as f64 / down as f64).min(1.0);
        // Normalised to the upsampled rate: cutoff at the lower Nyquist, transition
        // from `pass` to `2 - pass` of it.
        let cutoff = nyquist / fs_up;
        let width = 2.0 * (1.0 - pass) * nyquist / fs_up;
        let order = ((atten - 8.0) / (2.285 * 2.0 * std::f64::consts::PI * width)).ceil() as usize;
        // Half-length at least `down`, so no output needs input past the end.
        let half = (order / 2).max(down).max(up);
        let len = 2 * half + 1;
        let beta = if atten > 50.0 {
            0.1102 * (atten - 8.7)
        } else {
            0.5842 * (atten - 21.0).max(0.0).powf(0.4) + 0.07886 * (atten - 21.0).max(0.0)
        };
        let i0_beta = bessel_i0(beta);
        let mut h: Vec<f64> = (0..len)
            .map(|n| {
                let t = n as f64 - half as f64;
                let x = 2.0 * cutoff * t;
                let sinc = if t == 0.0 {
                    1.0
                } else {
                    (std::f64::consts::PI * x).sin() / (std::f64::consts::PI * x)
                };
                let r = t / half as f64;
                let w = bessel_i0(beta * (1.0 - r * r).max(0.0).sqrt()) / i0_beta;
                sinc * w
            })
            .collect();
        // Unit DC gain per phase (zero-stuffing divides the level by `up`).
        let sum: f64 = h.iter().sum();
        h.iter_mut().for_each(|v| *v *= up as f64 / sum);
        let taps = len.div_ceil(up).div_ceil(8) * 8;
        let mut bank = vec![0.0f32; up * taps];
        for phase in 0..up {
            let row = &mut bank[phase * taps..(phase + 1) * taps];
            // row[taps-1-m] multiplies x[i_max - m] with tap h[phase + m*up].
            for m in 0..taps {
                if let Some(&v) = h.get(phase + m * up) {
                    row[taps - 1 - m] = v as f32;
                }
            }
        }
        Polyphase {
            up,
            down,
            taps,
            centre: half as u64,
            bank,
            history: vec![vec![0.0; taps]; channels],
            base: -(taps as i64),
            next: 0,
        }
    }

    /// Newest input index and phase that output `k` needs.
    fn position(&self, k: u64) -> (i64, usize) {
        let p = k * self.down as u64 + self.centre;
        ((p / self.up as u64) as i64, (p % self.up as u64) as usize)
    }

    /// Computes outputs `self.next..end` (their input must be in `history`).
    fn produce(&mut self, end: u64, produced: &mut [Vec<f32>]) {
        let count = end.saturating_sub(self.next) as usize;
        for dst in produced.iter_mut() {
            dst.reserve(count);
        }
        if end > self.next {
            // Step the input position by down/up per output without dividing.
            let (step, frac) = ((self.down / self.up) as i64, self.down % self.up);
            let (mut newest, mut phase) = self.position(self.next);
            let taps = self.taps;
            let mut k = self.next;
            // Four outputs at a time: independent sums and one shared reduction.
            let mut spots = [(0usize, 0usize); 4];
            while k < end {
                let group = ((end - k) as usize).min(4);
                for spot in spots.iter_mut().take(group) {
                    *spot = (
                        (newest + 1 - taps as i64 - self.base) as usize,
                        phase * taps,
                    );
                    newest += step;
                    phase += frac;
                    if phase >= self.up {
                        phase -= self.up;
                        newest += 1;
                    }
                }
                for (dst, hist) in produced.iter_mut().zip(&self.history) {
                    if group == 4 {
                        let rows = spots.map(|(_, r)| &self.bank[r..r + taps]);
                        let wins = spots.map(|(w, _)| &hist[w..w + taps]);
                        dst.extend_from_slice(&dot4(rows, wins));
                    } else {
                        for &(w, r) in &spots[..group] {
                            dst.push(dot(&self.bank[r..r + taps], &hist[w..w + taps]));
                        }
                    }
                }
                k += group as u64;
            }
        }
        self.next = self.next.max(end);
        // Keep only what the next output needs.
        let (newest, _) = self.position(self.next);
        let keep_from = newest + 1 - self.taps as i64;
        let drop = (keep_from - self.base).clamp(0, self.history[0].len() as i64) as usize;
        if drop > 0 {
            for hist in &mut self.history {
                hist.drain(..drop);
            }
            self.base += drop as i64;
        }
    }

    /// Index past the last output computable from the input held.
    fn ready(&self) -> u64 {
        let available = self.base + self.history[0].len() as i64; // exclusive
                                                                  // Largest k with newest(k) < available: k*down + centre < available*up.
        let limit = available * self.up as i64 - self.centre as i64;
        if limit <= 0 {
            0
        } else {
            (limit as u64).div_ceil(self.down as u64)
        }
    }

    fn push<'a>(&mut self, channels: impl Iterator<Item = &'a [f32]>, produced: &mut [Vec<f32>]) {
        for (hist, ch) in self.history.iter_mut().zip(channels) {
            hist.extend_from_slice(ch);
        }
        let end = self.ready();
        self.produce(end, produced);
    }

    /// Pads with silence and computes outputs up to `expected` in all.
    fn drain(&mut self, expected: u64, produced: &mut [Vec<f32>]) {
        if expected > self.next {
            let (newest, _) = self.position(expected - 1);
            let need = (newest + 1 - self.base).max(0) as usize;
            for hist in &mut self.history {
                if hist.len() < need {
                    hist.resize(need, 0.0);
                }
            }
            self.produce(expected, produced);
        }
    }
}

/// Modified Bessel function of the first kind, order 0 (power series).
fn bessel_i0(x: f64) -> f64 {
    let (mut sum, mut term) = (1.0f64, 1.0f64);
    let q = x * x / 4.0;
    for k in 1..200 {
        term *= q / (k * k) as f64;
        sum += term;
        if term < sum * 1e-17 {
            break;
        }
    }
    sum
}

/// Four dot products (`rows[i] . wins[i]`), slices of one length, a multiple of 8.
fn dot4(rows: [&[f32]; 4], wins: [&[f32]; 4]) -> [f32; 4] {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports the features the function is compiled for.
            return unsafe { dot4_avx2(rows, wins) };
        }
    }
    [0, 1, 2, 3].map(|i| dot_lanes(rows[i], wins[i]))
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot4_avx2(rows: [&[f32]; 4], wins: [&[f32]; 4]) -> [f32; 4] {
    use std::arch::x86_64::{
        _mm256_castps256_ps128, _mm256_extractf128_ps, _mm256_fmadd_ps, _mm256_hadd_ps,
        _mm256_loadu_ps, _mm256_setzero_ps, _mm_add_ps, _mm_storeu_ps,
    };
    let n = rows.iter().chain(&wins).map(|s| s.len()).min().unwrap_or(0) / 8 * 8;
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut i = 0;
    while i < n {
        for j in 0..4 {
            acc[j] = _mm256_fmadd_ps(
                _mm256_loadu_ps(rows[j].as_ptr().add(i)),
                _mm256_loadu_ps(wins[j].as_ptr().add(i)),
                acc[j],
            );
        }
        i += 8;
    }
    let t0 = _mm256_hadd_ps(acc[0], acc[1]);
    let t1 = _mm256_hadd_ps(acc[2], acc[3]);
    let t2 = _mm256_hadd_ps(t0, t1);
    let sums = _mm_add_ps(_mm256_castps256_ps128(t2), _mm256_extractf128_ps::<1>(t2));
    let mut out = [0.0f32; 4];
    _mm_storeu_ps(out.as_mut_ptr(), sums);
    out
}

/// Dot product of two equal-length slices whose length is a multiple of 8.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU supports the features the function is compiled for.
            return unsafe { dot_avx2(a, b) };
        }
    }
    dot_lanes(a, b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    use std::arch::x86_64::{
        _mm256_castps256_ps128, _mm256_extractf128_ps, _mm256_fmadd_ps, _mm256_loadu_ps,
        _mm256_setzero_ps, _mm_add_ps, _mm_cvtss_f32, _mm_hadd_ps,
    };
    let n = a.len().min(b.len()) / 8 * 8;
    let (mut acc0, mut acc1) = (_mm256_setzero_ps(), _mm256_setzero_ps());
    let mut i = 0;
    // Two accumulators hide the FMA latency.
    while i + 16 <= n {
        acc0 = _mm256_fmadd_ps(
            _mm256_loadu_ps(a.as_ptr().add(i)),
            _mm256_loadu_ps(b.as_ptr().add(i)),
            acc0,
        );
        acc1 = _mm256_fmadd_ps(
            _mm256_loadu_ps(a.as_ptr().add(i + 8)),
            _mm256_loadu_ps(b.as_ptr().add(i + 8)),
            acc1,
        );
        i += 16;
    }
    if i < n {
        acc0 = _mm256_fmadd_ps(
            _mm256_loadu_ps(a.as_ptr().add(i)),
            _mm256_loadu_ps(b.as_ptr().add(i)),
            acc0,
        );
    }
    let acc = std::arch::x86_64::_mm256_add_ps(acc0, acc1);
    let quad = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps::<1>(acc));
    let pair = _mm_hadd_ps(quad, quad);
    _mm_cvtss_f32(_mm_hadd_ps(pair, pair))
}

/// Eight independent partial sums, which the compiler turns into SIMD.
#[inline(always)]
fn dot_lanes(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    acc.iter().sum()
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
