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
    Poly(Box<Polyphase>),
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
            Kernel::Poly(Box::new(Polyphase::new(
                unit_out,
                unit_in,
                self.quality,
                channels,
            )))
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
    /// Output-blocked kernel for pure decimation (`up == 1`).
    decim: Option<Decimator>,
    /// AVX2+FMA kernels usable (asked once per stream).
    simd: bool,
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
        let decim = (up == 1).then(|| Decimator::new(&bank, down));
        Polyphase {
            up,
            down,
            taps,
            centre: half as u64,
            bank,
            history: vec![vec![0.0; taps]; channels],
            base: -(taps as i64),
            next: 0,
            decim,
            simd: crate::simd::has_avx2_fma(),
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
        let (first, first_phase) = self.position(self.next);
        if let (Some(dec), true) = (&mut self.decim, end > self.next) {
            // Output `next` reads history from `w0` on, `down` samples further per output.
            let w0 = (first + 1 - self.taps as i64 - self.base) as usize;
            for (dst, hist) in produced.iter_mut().zip(&self.history) {
                dec.run(hist, w0, count, self.simd, dst);
            }
        } else if end > self.next {
            // Step the input position by down/up per output without dividing.
            let (step, frac) = ((self.down / self.up) as i64, self.down % self.up);
            let (mut newest, mut phase) = (first, first_phase);
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
                        dst.extend_from_slice(&dot4(rows, wins, self.simd));
                    } else {
                        for &(w, r) in &spots[..group] {
                            dst.push(dot(&self.bank[r..r + taps], &hist[w..w + taps], self.simd));
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

/// Pure decimation by `down` (`up == 1`), blocked over outputs.
///
/// With the history split into `down` phase streams `ph_p[n] = hist[w0 + p + down*n]`,
/// output `i` is `sum_p sum_j c_p[j] * ph_p[i + j]`: each coefficient is broadcast
/// once and multiplied into a whole block of consecutive outputs held in vector
/// accumulators, so there are no horizontal sums and no strided loads.
struct Decimator {
    down: usize,
    /// Leading zero taps of the reversed filter row, skipped.
    lead: usize,
    /// Row length of `coef` (taps of the longest phase filter).
    m: usize,
    /// `coef[p*m + j] = row[lead + p + down*j]`, for `j < lens[p]`.
    coef: Vec<f32>,
    /// Taps of each phase filter: none is padded, so a sample past an output's
    /// window never meets a (zero) tap, which would turn an inf there into NaN.
    lens: Vec<usize>,
    /// Scratch: `down` phase streams of `stride` samples, zero padded.
    phases: Vec<f32>,
    /// Scratch: outputs, a whole number of 8-sample vectors.
    out: Vec<f32>,
}

impl Decimator {
    fn new(bank: &[f32], down: usize) -> Self {
        let lead = bank.iter().take_while(|&&c| c == 0.0).count();
        let row = &bank[lead..];
        let m = row.len().div_ceil(down);
        let mut coef = vec![0.0f32; down * m];
        for (k, &c) in row.iter().enumerate() {
            coef[(k % down) * m + k / down] = c;
        }
        let lens = (0..down)
            .map(|p| row.len().saturating_sub(p).div_ceil(down))
            .collect();
        Decimator {
            down,
            lead,
            m,
            coef,
            lens,
            phases: Vec::new(),
            out: Vec::new(),
        }
    }

    /// Appends `count` outputs to `dst`; the first output's window starts at
    /// `hist[w0]` (before skipping the zero taps). Samples past the history read
    /// as zeros: only the padded outputs, which are dropped, reach them.
    fn run(&mut self, hist: &[f32], w0: usize, count: usize, simd: bool, dst: &mut Vec<f32>) {
        let (down, m) = (self.down, self.m);
        // Whole vectors of outputs; the padded ones are computed and dropped.
        let padded = count.div_ceil(8) * 8;
        let stride = padded + m;
        self.phases.clear();
        self.phases.resize(down * stride, 0.0);
        let src = hist.get(w0 + self.lead..).unwrap_or(&[]);
        let src = &src[..src.len().min(down * stride)];
        match down {
            2 => deinterleave::<2>(src, &mut self.phases, stride),
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `simd` is only true when the CPU has AVX2 and FMA; `src` is at
            // most `3 * stride` long and `phases` holds 3 streams of `stride`.
            3 if simd => unsafe { deinterleave3_avx2(src, &mut self.phases, stride) },
            3 => deinterleave::<3>(src, &mut self.phases, stride),
            4 => deinterleave::<4>(src, &mut self.phases, stride),
            _ => {
                for (n, frame) in src.chunks(down).enumerate() {
                    for (p, &x) in frame.iter().enumerate() {
                        self.phases[p * stride + n] = x;
                    }
                }
            }
        }
        self.out.clear();
        self.out.resize(padded, 0.0);
        let filters = phase_filters(&self.coef, m, &self.lens);
        #[cfg(target_arch = "x86_64")]
        if simd {
            // SAFETY: `simd` is only true when the CPU has AVX2 and FMA; the
            // phase streams hold `stride = out.len() + m` samples each, which is
            // every index the kernel reads.
            unsafe { decimate_avx2(filters, &self.phases, stride, &mut self.out) };
            dst.extend_from_slice(&self.out[..count]);
            return;
        }
        let _ = simd;
        decimate_portable(filters, &self.phases, stride, &mut self.out);
        dst.extend_from_slice(&self.out[..count]);
    }
}

/// `phases[p*stride + n] = src[p + D*n]` (`src` at most `D*stride` long): the
/// common factors get a fixed-size inner loop.
fn deinterleave<const D: usize>(src: &[f32], phases: &mut [f32], stride: usize) {
    let mut streams = phases.chunks_exact_mut(stride);
    let mut heads: [&mut [f32]; D] = std::array::from_fn(|_| streams.next().expect("D streams"));
    let n = src.len() / D;
    let rest = &src[n * D..];
    for (head, p) in heads.iter_mut().zip(0..) {
        // A fixed stride and length: the loop has no bounds checks.
        for (slot, frame) in head[..n].iter_mut().zip(src.chunks_exact(D)) {
            *slot = frame[p];
        }
    }
    for (head, &x) in heads.iter_mut().zip(rest) {
        head[n] = x;
    }
}

/// [`deinterleave`] by 3 (48k -> 16k) with AVX2: per 24 samples, three loads; the
/// lanes each stream needs sit at distinct positions of the three vectors, so two
/// blends and one lane permute make each output vector.
///
/// # Safety
/// The CPU must support AVX2; `src.len() <= 3 * stride` and
/// `phases.len() >= 3 * stride`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn deinterleave3_avx2(src: &[f32], phases: &mut [f32], stride: usize) {
    use std::arch::x86_64::{
        _mm256_blend_ps, _mm256_loadu_ps, _mm256_permutevar8x32_ps, _mm256_setr_epi32,
        _mm256_storeu_ps,
    };
    debug_assert!(src.len() <= 3 * stride && phases.len() >= 3 * stride);
    let whole = src.len() / 24;
    // Stream p takes a[i] with i % 3 == p, b[i] (= x[8 + i]) with i % 3 == (p + 1) % 3
    // and c[i] (= x[16 + i]) with i % 3 == (p + 2) % 3; blend bit i picks the
    // second operand, the permute puts the lanes in stream order.
    let idx = [
        _mm256_setr_epi32(0, 3, 6, 1, 4, 7, 2, 5),
        _mm256_setr_epi32(1, 4, 7, 2, 5, 0, 3, 6),
        _mm256_setr_epi32(2, 5, 0, 3, 6, 1, 4, 7),
    ];
    let (x, out) = (src.as_ptr(), phases.as_mut_ptr());
    for n in 0..whole {
        let a = _mm256_loadu_ps(x.add(24 * n));
        let b = _mm256_loadu_ps(x.add(24 * n + 8));
        let c = _mm256_loadu_ps(x.add(24 * n + 16));
        let s0 = _mm256_blend_ps::<0b0010_0100>(_mm256_blend_ps::<0b1001_0010>(a, b), c);
        let s1 = _mm256_blend_ps::<0b0100_1001>(_mm256_blend_ps::<0b0010_0100>(a, b), c);
        let s2 = _mm256_blend_ps::<0b1001_0010>(_mm256_blend_ps::<0b0100_1001>(a, b), c);
        _mm256_storeu_ps(out.add(8 * n), _mm256_permutevar8x32_ps(s0, idx[0]));
        _mm256_storeu_ps(
            out.add(stride + 8 * n),
            _mm256_permutevar8x32_ps(s1, idx[1]),
        );
        _mm256_storeu_ps(
            out.add(2 * stride + 8 * n),
            _mm256_permutevar8x32_ps(s2, idx[2]),
        );
    }
    // The rest (under 24 samples) one by one.
    for (k, &v) in src.iter().enumerate().skip(24 * whole) {
        phases[(k % 3) * stride + k / 3] = v;
    }
}

/// The phase filters of a [`Decimator`], each exactly as long as it has taps.
fn phase_filters<'a>(
    coef: &'a [f32],
    m: usize,
    lens: &'a [usize],
) -> impl Iterator<Item = &'a [f32]> + Clone {
    coef.chunks_exact(m)
        .zip(lens)
        .map(|(row, &len)| &row[..len])
}

/// Portable decimation kernel: `out` (zeroed) += every phase filter over its
/// stream, in 64-output blocks the compiler vectorises.
fn decimate_portable<'a>(
    filters: impl Iterator<Item = &'a [f32]> + Clone,
    phases: &[f32],
    stride: usize,
    out: &mut [f32],
) {
    for (b, block) in out.chunks_mut(64).enumerate() {
        let i = b * 64;
        for (c, stream) in filters.clone().zip(phases.chunks_exact(stride)) {
            for (j, &cj) in c.iter().enumerate() {
                let s = &stream[i + j..i + j + block.len()];
                // Plain a*b+c: mul_add is a libm call without FMA hardware.
                for (o, &x) in block.iter_mut().zip(s) {
                    *o += cj * x;
                }
            }
        }
    }
}

/// AVX2 decimation kernel: blocks of 64 outputs (8 accumulators: enough
/// independent FMA chains to hide their latency), then smaller blocks for the rest.
///
/// # Safety
/// The CPU must support AVX2 and FMA; `out.len()` must be a multiple of 8 and
/// every phase stream (`stride` samples) at least `out.len()` longer than its filter.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn decimate_avx2<'a>(
    filters: impl Iterator<Item = &'a [f32]> + Clone,
    phases: &[f32],
    stride: usize,
    out: &mut [f32],
) {
    let n = out.len();
    debug_assert!(n.is_multiple_of(8));
    debug_assert!(filters.clone().all(|f| f.len() + n <= stride));
    let mut i = 0;
    while i + 64 <= n {
        decimate_block::<8>(filters.clone(), phases, stride, i, out);
        i += 64;
    }
    if i + 32 <= n {
        decimate_block::<4>(filters.clone(), phases, stride, i, out);
        i += 32;
    }
    if i + 16 <= n {
        decimate_block::<2>(filters.clone(), phases, stride, i, out);
        i += 16;
    }
    if i < n {
        decimate_block::<1>(filters, phases, stride, i, out);
    }
}

/// Outputs `i..i + 8*V` of [`decimate_avx2`].
///
/// # Safety
/// As [`decimate_avx2`], with `i + 8*V <= out.len()`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn decimate_block<'a, const V: usize>(
    filters: impl Iterator<Item = &'a [f32]>,
    phases: &[f32],
    stride: usize,
    i: usize,
    out: &mut [f32],
) {
    use std::arch::x86_64::{
        _mm256_broadcast_ss, _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_setzero_ps, _mm256_storeu_ps,
    };
    let mut acc = [_mm256_setzero_ps(); V];
    for (c, stream) in filters.zip(phases.chunks_exact(stride)) {
        let s = stream.as_ptr().add(i);
        for (j, cj) in c.iter().enumerate() {
            let cv = _mm256_broadcast_ss(cj);
            for (v, a) in acc.iter_mut().enumerate() {
                // Reads stream[i + j + 8v .. +8]: below out.len() + c.len() <= stride.
                *a = _mm256_fmadd_ps(cv, _mm256_loadu_ps(s.add(j + 8 * v)), *a);
            }
        }
    }
    for (v, a) in acc.iter().enumerate() {
        _mm256_storeu_ps(out.as_mut_ptr().add(i + 8 * v), *a);
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
fn dot4(rows: [&[f32]; 4], wins: [&[f32]; 4], simd: bool) -> [f32; 4] {
    #[cfg(target_arch = "x86_64")]
    {
        if simd {
            // SAFETY: the CPU supports the features the function is compiled for.
            return unsafe { dot4_avx2(rows, wins) };
        }
    }
    let _ = simd;
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
fn dot(a: &[f32], b: &[f32], simd: bool) -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        if simd {
            // SAFETY: the CPU supports the features the function is compiled for.
            return unsafe { dot_avx2(a, b) };
        }
    }
    let _ = simd;
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
    use crate::nodes::test_noise as noise;

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

    /// Streams `channels` through `poly` in frames of the given sizes, then drains.
    fn run_poly(poly: &mut Polyphase, channels: &[Vec<f32>], sizes: &[usize]) -> Vec<Vec<f32>> {
        let n = channels[0].len();
        let mut out = vec![Vec::new(); channels.len()];
        let (mut at, mut k) = (0, 0);
        while at < n {
            let len = sizes[k % sizes.len()].min(n - at);
            poly.push(channels.iter().map(|c| &c[at..at + len]), &mut out);
            at += len;
            k += 1;
        }
        let expected = (n as u64 * poly.up as u64).div_ceil(poly.down as u64);
        poly.drain(expected, &mut out);
        out
    }

    #[test]
    fn decimation_kernel_matches_dot_products() {
        // (down, quality): 48k->16k, 32k->16k, 44.1k->... style factors.
        for (down, quality) in [
            (3, Quality::Hq),
            (2, Quality::Mq),
            (5, Quality::Vhq),
            (7, Quality::Hq),
        ] {
            let channels = vec![noise(9001, 7), noise(9001, 11)];
            let reference = {
                let mut poly = Polyphase::new(1, down, quality, 2);
                poly.decim = None;
                run_poly(&mut poly, &channels, &[960])
            };
            let scale = reference[0].iter().fold(0.0f32, |m, x| m.max(x.abs()));
            for simd in [false, crate::simd::has_avx2_fma()] {
                // Frame sizes that give partial blocks, single samples and empty pushes.
                for sizes in [&[960][..], &[1, 0, 317, 64, 5, 2000], &[1]] {
                    let mut poly = Polyphase::new(1, down, quality, 2);
                    assert!(poly.decim.is_some());
                    poly.simd = simd;
                    let out = run_poly(&mut poly, &channels, sizes);
                    for (a, b) in out.iter().zip(&reference) {
                        assert_eq!(a.len(), b.len(), "down {down} sizes {sizes:?}");
                        for (i, (x, y)) in a.iter().zip(b).enumerate() {
                            assert!(
                                (x - y).abs() <= 2e-6 * scale,
                                "down {down} simd {simd} sizes {sizes:?} at {i}: {x} vs {y}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn deinterleave_by_three_matches_the_generic_split() {
        if !crate::simd::has_avx2_fma() {
            eprintln!("no AVX2+FMA on this CPU: only the portable split runs");
            return;
        }
        let x = noise(300, 3);
        for len in (0..=90usize).chain([299, 300]) {
            let stride = len.div_ceil(3) + 5;
            let mut expected = vec![0.0; 3 * stride];
            deinterleave::<3>(&x[..len], &mut expected, stride);
            let mut got = vec![0.0; 3 * stride];
            // SAFETY: the test checked the CPU; len <= 3 * stride.
            unsafe { deinterleave3_avx2(&x[..len], &mut got, stride) };
            assert_eq!(got, expected, "len {len}");
        }
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
