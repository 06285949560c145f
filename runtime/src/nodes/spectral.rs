//! STFT magnitude and (log-)mel spectrograms, computed like librosa 0.10+:
//! periodic windows (scipy `get_window(..., fftbins=True)`), `center=True` with
//! zero padding, Slaney mel scale and Slaney area normalisation,
//! `10*log10(max(S, 1e-10))` for dB.

use std::sync::Arc;

use realfft::num_complex::Complex;
use realfft::{RealFftPlanner, RealToComplex};

use super::{Config, NativeNode, NodeResult};
use crate::error::{NodeFailure, Result};
use crate::frame::{Audio, Spectrogram, SpectrogramKind, Value};

/// Analysis windows (periodic, as scipy's `get_window(name, n, fftbins=True)`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// Hann.
    Hann,
    /// Hamming.
    Hamming,
    /// Blackman.
    Blackman,
}

impl Window {
    fn coefficients(self, n: usize) -> Vec<f32> {
        let two_pi = 2.0 * std::f64::consts::PI;
        (0..n)
            .map(|i| {
                let x = two_pi * i as f64 / n as f64;
                let w = match self {
                    Window::Hann => 0.5 - 0.5 * x.cos(),
                    Window::Hamming => 0.54 - 0.46 * x.cos(),
                    Window::Blackman => 0.42 - 0.5 * x.cos() + 0.08 * (2.0 * x).cos(),
                };
                w as f32
            })
            .collect()
    }
}

/// Short-time Fourier analysis shared by STFT and MelSpectrogram.
pub struct Analyzer {
    n_fft: usize,
    hop: usize,
    center: bool,
    window: Vec<f32>,
    fft: Arc<dyn RealToComplex<f32>>,
    frame: Vec<f32>,
    spectrum: Vec<Complex<f32>>,
    scratch: Vec<Complex<f32>>,
    /// Power or magnitude per bin of the current frame.
    bins: Vec<f32>,
    /// AVX2+FMA kernels usable (asked once).
    simd: bool,
}

impl Analyzer {
    /// An analyser with a periodic window.
    pub fn new(n_fft: usize, hop: usize, center: bool, window: Window) -> Self {
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(n_fft);
        let window = window.coefficients(n_fft);
        Analyzer {
            n_fft,
            hop,
            center,
            window,
            frame: fft.make_input_vec(),
            spectrum: fft.make_output_vec(),
            scratch: fft.make_scratch_vec(),
            bins: vec![0.0; n_fft / 2 + 1],
            simd: crate::simd::has_avx2_fma(),
            fft,
        }
    }

    /// Number of frequency bins, `1 + n_fft/2`.
    pub fn bins(&self) -> usize {
        self.n_fft / 2 + 1
    }

    /// Number of frames for `n` samples.
    pub fn frames_for(&self, n: usize) -> std::result::Result<usize, NodeFailure> {
        let padded = if self.center {
            n + 2 * (self.n_fft / 2)
        } else {
            n
        };
        if padded < self.n_fft {
            return Err(NodeFailure::value(format!(
                "input of {n} samples is shorter than n_fft={} (use center=True or a \
                 longer input)",
                self.n_fft
            )));
        }
        Ok(1 + (padded - self.n_fft) / self.hop)
    }

    /// Calls `visit(frame_index, power_or_magnitude_per_bin)` for every frame.
    pub fn run(
        &mut self,
        y: &[f32],
        power: bool,
        mut visit: impl FnMut(usize, &[f32]),
    ) -> std::result::Result<usize, NodeFailure> {
        let frames = self.frames_for(y.len())?;
        let pad = if self.center { self.n_fft / 2 } else { 0 };
        for t in 0..frames {
            // Frame t covers padded[t*hop .. t*hop+n_fft] = y[t*hop-pad ..].
            let start = (t * self.hop) as isize - pad as isize;
            if start >= 0 && start as usize + self.n_fft <= y.len() {
                // Interior frame: no padding to handle.
                let src = &y[start as usize..start as usize + self.n_fft];
                for ((slot, w), x) in self.frame.iter_mut().zip(&self.window).zip(src) {
                    *slot = x * w;
                }
            } else {
                for (i, (slot, w)) in self.frame.iter_mut().zip(&self.window).enumerate() {
                    let k = start + i as isize;
                    *slot = if k >= 0 && (k as usize) < y.len() {
                        y[k as usize] * w
                    } else {
                        0.0
                    };
                }
            }
            self.fft
                .process_with_scratch(&mut self.frame, &mut self.spectrum, &mut self.scratch)
                .map_err(|e| NodeFailure::value(format!("FFT failed: {e}")))?;
            for (b, c) in self.bins.iter_mut().zip(&self.spectrum) {
                let p = c.re * c.re + c.im * c.im;
                *b = if power { p } else { p.sqrt() };
            }
            visit(t, &self.bins);
        }
        Ok(frames)
    }
}

fn read_fft_params(cfg: &Config) -> Result<(usize, usize)> {
    let n_fft = cfg.positive_or("n_fft", Some(512))?;
    if n_fft < 2 {
        return Err(cfg.invalid("n_fft", "must be >= 2", n_fft));
    }
    let hop = match cfg.opt_i64("hop_length")? {
        None => (n_fft / 4).max(1),
        Some(h) if h >= 1 => h as usize,
        Some(h) => return Err(cfg.invalid("hop_length", "must be a positive integer", h)),
    };
    Ok((n_fft, hop))
}

/// Magnitude spectrogram of the mono mix, `(1 + n_fft/2, frames)`.
pub struct Stft {
    analyzer: Analyzer,
}

impl Stft {
    /// Builds from a manifest config (`n_fft`, `hop_length`, `window`, `center`).
    pub fn from_config(cfg: &Config) -> Result<Self> {
        let (n_fft, hop) = read_fft_params(cfg)?;
        let window = match cfg.str_or("window", "hann")? {
            "hann" => Window::Hann,
            "hamming" => Window::Hamming,
            "blackman" => Window::Blackman,
            other => {
                return Err(cfg.invalid(
                    "window",
                    "must be 'hann', 'hamming' or 'blackman'",
                    format!("'{other}'"),
                ))
            }
        };
        let center = cfg.bool_or("center", true)?;
        Ok(Stft::new(n_fft, hop, center, window))
    }

    /// An STFT node.
    pub fn new(n_fft: usize, hop: usize, center: bool, window: Window) -> Self {
        Stft {
            analyzer: Analyzer::new(n_fft, hop, center, window),
        }
    }

    /// Analyses one frame.
    pub fn analyse(&mut self, input: &Audio) -> std::result::Result<Spectrogram, NodeFailure> {
        let mono = input.mono();
        let bins = self.analyzer.bins();
        let frames = self.analyzer.frames_for(mono.len()).map_err(stft_error)?;
        let mut values = vec![0.0f32; bins * frames];
        self.analyzer
            .run(&mono, false, |t, mags| {
                for (b, &m) in mags.iter().enumerate() {
                    values[b * frames + t] = m;
                }
            })
            .map_err(stft_error)?;
        Ok(Spectrogram {
            values,
            bins,
            frames,
            sample_rate: input.rate,
            hop_length: self.analyzer.hop,
            n_fft: self.analyzer.n_fft,
            kind: SpectrogramKind::Stft,
            db: false,
            timestamp: input.timestamp,
            fmin: None,
            fmax: None,
        })
    }
}

fn stft_error(f: NodeFailure) -> NodeFailure {
    NodeFailure::value(format!("STFT: {}", f.message))
}

impl NativeNode for Stft {
    fn process(&mut self, input: Audio) -> NodeResult {
        Ok(vec![Value::Spectrogram(self.analyse(&input)?)])
    }
}

/// Slaney mel scale (librosa `hz_to_mel(htk=False)`).
pub fn hz_to_mel(hz: f64) -> f64 {
    let f_sp = 200.0 / 3.0;
    let min_log_hz = 1000.0;
    let min_log_mel = min_log_hz / f_sp;
    let logstep = 6.4f64.ln() / 27.0;
    if hz >= min_log_hz {
        min_log_mel + (hz / min_log_hz).ln() / logstep
    } else {
        hz / f_sp
    }
}

/// Inverse of [`hz_to_mel`].
pub fn mel_to_hz(mel: f64) -> f64 {
    let f_sp = 200.0 / 3.0;
    let min_log_hz = 1000.0;
    let min_log_mel = min_log_hz / f_sp;
    let logstep = 6.4f64.ln() / 27.0;
    if mel >= min_log_mel {
        min_log_hz * (logstep * (mel - min_log_mel)).exp()
    } else {
        f_sp * mel
    }
}

/// One mel filter: its first non-zero bin and weights.
#[derive(Debug, Clone)]
pub struct MelFilter {
    /// First bin with a non-zero weight.
    pub start: usize,
    /// Weights from `start` on (float32, like librosa's default dtype).
    pub weights: Vec<f32>,
}

/// librosa `filters.mel(sr, n_fft, n_mels, fmin, fmax, htk=False, norm="slaney")`.
pub fn mel_filterbank(
    rate: u32,
    n_fft: usize,
    n_mels: usize,
    fmin: f64,
    fmax: f64,
) -> Vec<MelFilter> {
    let bins = n_fft / 2 + 1;
    let fft_freqs: Vec<f64> = (0..bins)
        .map(|i| i as f64 * f64::from(rate) / n_fft as f64)
        .collect();
    let (lo, hi) = (hz_to_mel(fmin), hz_to_mel(fmax));
    let mel_f: Vec<f64> = (0..n_mels + 2)
        .map(|i| mel_to_hz(lo + (hi - lo) * i as f64 / (n_mels + 1) as f64))
        .collect();
    (0..n_mels)
        .map(|m| {
            let (f0, f1, f2) = (mel_f[m], mel_f[m + 1], mel_f[m + 2]);
            let enorm = 2.0 / (f2 - f0);
            let full: Vec<f32> = fft_freqs
                .iter()
                .map(|&f| {
                    let lower = (f - f0) / (f1 - f0);
                    let upper = (f2 - f) / (f2 - f1);
                    (0.0f64.max(lower.min(upper)) * enorm) as f32
                })
                .collect();
            let start = full.iter().position(|&w| w != 0.0).unwrap_or(0);
            let end = full
                .iter()
                .rposition(|&w| w != 0.0)
                .map_or(start, |e| e + 1);
            MelFilter {
                start,
                weights: full[start..end].to_vec(),
            }
        })
        .collect()
}

/// Dot product with eight independent partial sums: the compiler vectorises it,
/// where one running f32 sum is bound by the add latency (librosa's BLAS product
/// does not sum in order either).
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `10*log10(max(x, 1e-10))` of every value, in place (librosa's `power_to_db`
/// with `amin=1e-10, top_db=None`; NaN reads as the floor like `f32::max`).
///
/// Within 2e-5 dB of the exact value for every finite input (the rounding of a
/// float32 result near 100 dB is 4e-6): the exponent comes from the bits and
/// `ln` of the mantissa in `[sqrt(1/2), sqrt(2))` from Cephes' `logf`
/// polynomial, with no branches, so the loop vectorises.
pub fn power_to_db(values: &mut [f32], simd: bool) {
    #[cfg(target_arch = "x86_64")]
    if simd {
        // SAFETY: `simd` is only true when the CPU has AVX2 and FMA.
        unsafe { power_to_db_avx2(values) };
        return;
    }
    let _ = simd;
    power_to_db_lanes(values);
}

/// [`power_to_db_lanes`] compiled for AVX2: eight values per step, the same
/// results (Rust never fuses `a*b+c` on its own).
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn power_to_db_avx2(values: &mut [f32]) {
    power_to_db_lanes(values);
}

#[inline(always)]
fn power_to_db_lanes(values: &mut [f32]) {
    const SQRT_HALF_BITS: i32 = 0x3f35_04f3;
    // 10*log10(2) split so that `e * HI` is exact (HI has 12 significant bits),
    // and 10/ln(10).
    const DB_PER_OCTAVE_HI: f32 = 3083.0 / 1024.0;
    const DB_PER_OCTAVE_LO: f32 = (3.010_299_956_639_812_f64 - 3083.0 / 1024.0) as f32;
    const DB_PER_NEPER: f32 = 4.342_944_6;
    for v in values.iter_mut() {
        let x = if *v > 1e-10 { *v } else { 1e-10 };
        // x = 2^e * m with m in [sqrt(1/2), sqrt(2)): shift the bits so that the
        // mantissa range starts at sqrt(1/2), take the exponent, put m back.
        let bits = x.to_bits() as i32;
        let e = bits.wrapping_sub(SQRT_HALF_BITS) >> 23;
        let m = f32::from_bits(bits.wrapping_sub(e << 23) as u32);
        let f = m - 1.0;
        let z = f * f;
        let p = ((((((((7.037_683_6e-2 * f - 1.151_461_1e-1) * f + 1.167_699_9e-1) * f
            - 1.242_014_1e-1)
            * f
            + 1.424_932_3e-1)
            * f
            - 1.666_805_8e-1)
            * f
            + 2.000_071_5e-1)
            * f
            - 2.499_999_4e-1)
            * f
            + 3.333_333e-1)
            * f
            * z;
        let ln_m = f - 0.5 * z + p;
        let e = e as f32;
        let db = e * DB_PER_OCTAVE_HI + (e * DB_PER_OCTAVE_LO + ln_m * DB_PER_NEPER);
        *v = if x == f32::INFINITY { x } else { db };
    }
}

/// Mel bands of up to eight frames: `rows[slot * stride + bin]` (frame-major,
/// slots past `len` hold stale spectra whose results are dropped) is transposed
/// into `cols[bin * 8 + slot]`, then each band is one FMA per weight and
/// `out[m * frames + slot] = band m of slot` for `slot < len`.
///
/// # Safety
/// The CPU must support AVX2 and FMA; `rows` and `cols` hold `8 * stride` floats,
/// `stride` is a multiple of 8 and no filter reaches past bin `stride`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn mel_block_avx2(
    bank: &[MelFilter],
    rows: &[f32],
    cols: &mut [f32],
    stride: usize,
    out: &mut [f32],
    frames: usize,
    len: usize,
) {
    use std::arch::x86_64::{
        _mm256_fmadd_ps, _mm256_loadu_ps, _mm256_permute2f128_ps, _mm256_set1_ps,
        _mm256_setzero_ps, _mm256_shuffle_ps, _mm256_storeu_ps, _mm256_unpackhi_ps,
        _mm256_unpacklo_ps,
    };
    debug_assert!(rows.len() >= 8 * stride && cols.len() >= 8 * stride && len <= 8);
    let (src, dst) = (rows.as_ptr(), cols.as_mut_ptr());
    for tile in (0..stride).step_by(8) {
        // 8x8 transpose: rows r[i] = spectrum i, bins tile..tile+8.
        let r: [_; 8] = std::array::from_fn(|i| _mm256_loadu_ps(src.add(i * stride + tile)));
        let t: [_; 8] = std::array::from_fn(|i| {
            let (a, b) = (r[2 * (i / 2)], r[2 * (i / 2) + 1]);
            if i % 2 == 0 {
                _mm256_unpacklo_ps(a, b)
            } else {
                _mm256_unpackhi_ps(a, b)
            }
        });
        let u: [_; 8] = std::array::from_fn(|i| {
            // (t0,t2), (t1,t3), (t4,t6), (t5,t7): low and high pairs.
            let base = 4 * (i / 4) + (i % 4) / 2;
            let (a, b) = (t[base], t[base + 2]);
            if i % 2 == 0 {
                _mm256_shuffle_ps::<0x44>(a, b)
            } else {
                _mm256_shuffle_ps::<0xEE>(a, b)
            }
        });
        // u0..u3 hold bins {0,1,2,3} / {4,5,6,7} of frames 0-3 in 128-bit halves,
        // u4..u7 the same for frames 4-7.
        for k in 0..4 {
            let lo = _mm256_permute2f128_ps::<0x20>(u[k], u[k + 4]);
            let hi = _mm256_permute2f128_ps::<0x31>(u[k], u[k + 4]);
            _mm256_storeu_ps(dst.add((tile + k) * 8), lo);
            _mm256_storeu_ps(dst.add((tile + k + 4) * 8), hi);
        }
    }
    let mut lanes = [0.0f32; 8];
    for (m, filter) in bank.iter().enumerate() {
        let mut acc = _mm256_setzero_ps();
        let band = dst.add(filter.start * 8);
        for (k, &w) in filter.weights.iter().enumerate() {
            acc = _mm256_fmadd_ps(_mm256_set1_ps(w), _mm256_loadu_ps(band.add(k * 8)), acc);
        }
        let row = &mut out[m * frames..m * frames + len];
        if len == 8 {
            _mm256_storeu_ps(row.as_mut_ptr(), acc);
        } else {
            _mm256_storeu_ps(lanes.as_mut_ptr(), acc);
            row.copy_from_slice(&lanes[..len]);
        }
    }
}

/// Mel power spectrogram (optionally in dB) of the mono mix.
pub struct MelSpectrogram {
    n_mels: usize,
    n_fft: usize,
    fmin: f64,
    fmax: Option<f64>,
    log: bool,
    analyzer: Analyzer,
    /// Filterbank for the last sample rate seen.
    bank: Option<(u32, Vec<MelFilter>)>,
    /// Scratch (AVX2 path): eight power spectra, frame-major and bin-major.
    rows: Vec<f32>,
    cols: Vec<f32>,
}

impl MelSpectrogram {
    /// Builds from a manifest config.
    pub fn from_config(cfg: &Config) -> Result<Self> {
        let n_mels = cfg.positive_or("n_mels", Some(64))?;
        let (n_fft, hop) = read_fft_params(cfg)?;
        let fmin = cfg.finite_or("fmin", 0.0)?;
        if fmin < 0.0 {
            return Err(cfg.invalid("fmin", "must be >= 0", fmin));
        }
        let fmax = cfg.opt_f64("fmax")?;
        if let Some(f) = fmax {
            if !(f.is_finite() && f > fmin) {
                return Err(cfg.invalid("fmax", "must be > fmin", f));
            }
        }
        let log = cfg.bool_or("log", true)?;
        Ok(MelSpectrogram::new(n_mels, n_fft, hop, fmin, fmax, log))
    }

    /// A mel spectrogram node.
    pub fn new(
        n_mels: usize,
        n_fft: usize,
        hop: usize,
        fmin: f64,
        fmax: Option<f64>,
        log: bool,
    ) -> Self {
        MelSpectrogram {
            n_mels,
            n_fft,
            fmin,
            fmax,
            log,
            analyzer: Analyzer::new(n_fft, hop, true, Window::Hann),
            bank: None,
            rows: Vec::new(),
            cols: Vec::new(),
        }
    }

    /// Analyses one frame.
    pub fn analyse(&mut self, input: &Audio) -> std::result::Result<Spectrogram, NodeFailure> {
        let nyquist = f64::from(input.rate) / 2.0;
        let fmax = self.fmax.unwrap_or(nyquist);
        if fmax > nyquist {
            return Err(NodeFailure::value(format!(
                "MelSpectrogram: fmax must be at most half the sample rate ({nyquist} Hz), \
                 got {fmax}"
            )));
        }
        if fmax <= self.fmin {
            return Err(NodeFailure::value(format!(
                "MelSpectrogram: fmin ({}) must be below fmax ({fmax} Hz at {} Hz)",
                self.fmin, input.rate
            )));
        }
        if self.bank.as_ref().map(|b| b.0) != Some(input.rate) {
            let bank = mel_filterbank(input.rate, self.n_fft, self.n_mels, self.fmin, fmax);
            self.bank = Some((input.rate, bank));
        }
        let bank = &self.bank.as_ref().expect("built above").1;
        let mono = input.mono();
        let frames = self
            .analyzer
            .frames_for(mono.len())
            .map_err(|f| NodeFailure::value(format!("MelSpectrogram: {}", f.message)))?;
        let mut values = vec![0.0f32; self.n_mels * frames];
        let result = if self.analyzer.simd {
            // Eight frames at a time: their spectra are transposed so that each mel
            // weight multiplies one vector (a band for eight frames), written
            // straight into the frame-contiguous output rows.
            let stride = self.analyzer.bins().div_ceil(8) * 8;
            let (rows, cols) = (&mut self.rows, &mut self.cols);
            rows.resize(8 * stride, 0.0);
            cols.resize(8 * stride, 0.0);
            self.analyzer.run(&mono, true, |t, power| {
                let slot = t % 8;
                rows[slot * stride..slot * stride + power.len()].copy_from_slice(power);
                if slot == 7 || t + 1 == frames {
                    let t0 = t - slot;
                    #[cfg(target_arch = "x86_64")]
                    // SAFETY: `simd` is only true when the CPU has AVX2 and FMA;
                    // `rows` and `cols` hold 8 * stride floats, stride a multiple
                    // of 8 covering every bin a filter reads.
                    unsafe {
                        mel_block_avx2(
                            bank,
                            rows,
                            cols,
                            stride,
                            &mut values[t0..],
                            frames,
                            slot + 1,
                        )
                    };
                }
            })
        } else {
            self.analyzer.run(&mono, true, |t, power| {
                for (m, filter) in bank.iter().enumerate() {
                    let band = &power[filter.start..filter.start + filter.weights.len()];
                    values[m * frames + t] = dot(band, &filter.weights);
                }
            })
        };
        result.map_err(|f| NodeFailure::value(format!("MelSpectrogram: {}", f.message)))?;
        if self.log {
            // One vectorised pass instead of a libm log10f per value.
            power_to_db(&mut values, self.analyzer.simd);
        }
        Ok(Spectrogram {
            values,
            bins: self.n_mels,
            frames,
            sample_rate: input.rate,
            hop_length: self.analyzer.hop,
            n_fft: self.n_fft,
            kind: SpectrogramKind::Mel,
            db: self.log,
            timestamp: input.timestamp,
            fmin: Some(self.fmin),
            fmax: Some(fmax),
        })
    }
}

impl NativeNode for MelSpectrogram {
    fn process(&mut self, input: Audio) -> NodeResult {
        Ok(vec![Value::Spectrogram(self.analyse(&input)?)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mel_scale_round_trips() {
        for hz in [0.0, 440.0, 999.0, 1000.0, 4000.0, 8000.0] {
            assert!((mel_to_hz(hz_to_mel(hz)) - hz).abs() < 1e-9);
        }
        // librosa.hz_to_mel(1000.0) == 15.0, hz_to_mel(8000) == 45.245640471924965
        assert!((hz_to_mel(1000.0) - 15.0).abs() < 1e-12);
        assert!((hz_to_mel(8000.0) - 45.245_640_471_924_965).abs() < 1e-9);
    }

    #[test]
    fn stft_of_sine_peaks_at_its_bin() {
        let rate = 16000;
        let n = 4096;
        let freq = 1000.0; // bin 32 at n_fft=512
        let x: Vec<f32> = (0..n)
            .map(|i| (2.0 * std::f64::consts::PI * freq * i as f64 / f64::from(rate)).sin() as f32)
            .collect();
        let mut stft = Stft::new(512, 128, true, Window::Hann);
        let s = stft.analyse(&Audio::new(x, 1, rate, 0.0)).unwrap();
        assert_eq!(s.bins, 257);
        assert_eq!(s.frames, 1 + n / 128);
        let mid = s.frames / 2;
        let column: Vec<f32> = (0..s.bins).map(|b| s.values[b * s.frames + mid]).collect();
        let peak = column
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .unwrap()
            .0;
        assert_eq!(peak, 32);
        // Hann-windowed full-scale sine: peak magnitude = n_fft/4.
        assert!((column[32] - 128.0).abs() < 0.1);
    }

    /// Reference dB in f64 of the float32-clamped value.
    fn exact_db(x: f32) -> f64 {
        let x = if x > 1e-10 { x } else { 1e-10 };
        10.0 * f64::from(x).log10()
    }

    fn max_db_error(inputs: &[f32], simd: bool) -> f64 {
        let mut out = inputs.to_vec();
        power_to_db(&mut out, simd);
        inputs
            .iter()
            .zip(&out)
            .map(|(&x, &y)| {
                assert!(y.is_finite(), "{x:e} -> {y}");
                (f64::from(y) - exact_db(x)).abs()
            })
            .fold(0.0, f64::max)
    }

    #[test]
    fn fast_db_matches_log10_over_the_float_range() {
        let mut inputs: Vec<f32> = Vec::new();
        // Every 97th bit pattern of the positive floats: zero, denormals (clamped),
        // normals up to f32::MAX, and odd lengths for the vector tails.
        let mut bits = 0u32;
        while bits < f32::INFINITY.to_bits() {
            inputs.push(f32::from_bits(bits));
            bits += 97;
        }
        // Powers of two and their neighbours (exponent steps, mantissa ends).
        for e in -149..=127 {
            let p = 2f32.powi(e);
            inputs.extend([
                p,
                f32::from_bits(p.to_bits() + 1),
                f32::from_bits(p.to_bits().max(1) - 1),
            ]);
        }
        // Around the clamp and sqrt(1/2) (where the mantissa range splits).
        for k in -1000..1000 {
            inputs.push(1e-10 * (1.0 + k as f32 * 1e-6));
            inputs.push(f32::from_bits((0x3f35_04f3 + k) as u32));
        }
        inputs.extend([
            0.0,
            -1.0,
            -0.0,
            f32::MIN_POSITIVE,
            f32::MAX,
            1.0,
            10.0,
            1e10,
        ]);
        for simd in [false, crate::simd::has_avx2_fma()] {
            let err = max_db_error(&inputs, simd);
            assert!(err < 2e-5, "max error {err} dB (simd {simd})");
        }
        // Exact where the floor applies, and for infinities and NaN.
        let mut special = [0.0, 1e-20, -5.0, f32::NAN, f32::INFINITY, 1.0];
        power_to_db(&mut special, crate::simd::has_avx2_fma());
        assert_eq!(&special[..3], &[-100.0; 3]);
        assert_eq!(special[3], -100.0);
        assert_eq!(special[4], f32::INFINITY);
        assert_eq!(special[5], 0.0);
    }

    #[test]
    fn log_mel_equals_db_of_linear_mel() {
        let x: Vec<f32> = (0..5000)
            .map(|i| ((i * 7919 % 1000) as f32 / 1000.0 - 0.5) * (i as f32 / 5000.0))
            .collect();
        let audio = Audio::new(x, 1, 16000, 0.0);
        let lin = MelSpectrogram::new(40, 512, 160, 0.0, None, false)
            .analyse(&audio)
            .unwrap();
        let db = MelSpectrogram::new(40, 512, 160, 0.0, None, true)
            .analyse(&audio)
            .unwrap();
        assert_eq!(lin.values.len(), db.values.len());
        for (&l, &d) in lin.values.iter().zip(&db.values) {
            assert!((f64::from(d) - exact_db(l)).abs() < 2e-5, "{l} -> {d}");
        }
    }

    #[test]
    fn blocked_mel_matches_per_frame_dot_products() {
        // Frame counts around multiples of eight, several FFT sizes and band counts.
        for (n, n_fft, hop, n_mels) in [
            (16000, 512, 128, 64),
            (3001, 400, 160, 40),
            (700, 256, 64, 128),
            (100, 2048, 512, 13),
        ] {
            let x: Vec<f32> = (0..n)
                .map(|i| ((i * 7919 % 1000) as f32 / 1000.0 - 0.5) * (1.0 + (i % 97) as f32))
                .collect();
            let stereo: Vec<f32> = x.iter().chain(x.iter().rev()).copied().collect();
            for audio in [
                Audio::new(x.clone(), 1, 16000, 0.0),
                Audio::new(stereo, 2, 16000, 0.0),
            ] {
                let mut plain = MelSpectrogram::new(n_mels, n_fft, hop, 0.0, None, false);
                plain.analyzer.simd = false;
                let reference = plain.analyse(&audio).unwrap();
                let mut fast = MelSpectrogram::new(n_mels, n_fft, hop, 0.0, None, false);
                // Twice: the scratch blocks are reused with stale frames in them.
                for _ in 0..2 {
                    let got = fast.analyse(&audio).unwrap();
                    assert_eq!(got.frames, reference.frames);
                    let scale = reference.values.iter().fold(0.0f32, |m, v| m.max(*v));
                    for (a, b) in got.values.iter().zip(&reference.values) {
                        assert!((a - b).abs() <= 1e-5 * scale, "{n_fft}: {a} vs {b}");
                    }
                }
            }
        }
    }

    #[test]
    fn slaney_filters_have_unit_area_in_hz() {
        let bank = mel_filterbank(16000, 2048, 40, 0.0, 8000.0);
        assert_eq!(bank.len(), 40);
        // Slaney norm: each triangle's weights sum * bin width ~ 1.
        let df = 16000.0 / 2048.0;
        for f in &bank[5..] {
            let area: f64 = f.weights.iter().map(|&w| f64::from(w) * df).sum();
            assert!((area - 1.0).abs() < 0.05, "area {area}");
        }
    }
}
