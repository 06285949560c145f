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
        let mut bins = vec![0.0f32; self.bins()];
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
            for (b, c) in bins.iter_mut().zip(&self.spectrum) {
                let p = c.re * c.re + c.im * c.im;
                *b = if power { p } else { p.sqrt() };
            }
            visit(t, &bins);
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
        let log = self.log;
        self.analyzer
            .run(&mono, true, |t, power| {
                for (m, filter) in bank.iter().enumerate() {
                    let band = &power[filter.start..filter.start + filter.weights.len()];
                    let s = dot(band, &filter.weights);
                    values[m * frames + t] = if log { 10.0 * s.max(1e-10).log10() } else { s };
                }
            })
            .map_err(|f| NodeFailure::value(format!("MelSpectrogram: {}", f.message)))?;
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
