//! Level nodes: Gain and Normalize (peak or BS.1770-4 integrated loudness).

use super::filter::Biquad;
use super::{Config, NativeNode, NodeResult};
use crate::error::{NodeFailure, Result};
use crate::frame::{Audio, Value};

/// Multiplies every sample by `10**(db/20)`.
pub struct Gain {
    factor: f32,
}

impl Gain {
    /// Builds from a manifest config (`db`).
    pub fn from_config(cfg: &Config) -> Result<Self> {
        let db = cfg.f64_or("db", 0.0)?;
        if !db.is_finite() {
            return Err(cfg.invalid("db", "must be a finite number", db));
        }
        Ok(Gain::new(db))
    }

    /// A gain of `db` decibels.
    pub fn new(db: f64) -> Self {
        Gain {
            factor: 10f64.powf(db / 20.0) as f32,
        }
    }
}

/// Multiplies all samples by one float32 factor (the numpy result bit for bit),
/// in place when Rust owns the samples.
pub fn scale(input: Audio, factor: f32) -> Audio {
    input.modified(|data, _| data.iter_mut().for_each(|x| *x *= factor))
}

impl NativeNode for Gain {
    fn process(&mut self, input: Audio) -> NodeResult {
        Ok(vec![Value::Audio(scale(input, self.factor))])
    }
}

/// What Normalize aims at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Target {
    /// Peak level in dBFS.
    PeakDb(f64),
    /// Integrated loudness in LUFS.
    Lufs(f64),
}

/// Scales each input as a whole to a peak level or a loudness.
pub struct Normalize {
    target: Target,
}

impl Normalize {
    /// Builds from a manifest config (`peak_db` or `lufs`).
    pub fn from_config(cfg: &Config) -> Result<Self> {
        let peak_db = cfg.opt_f64("peak_db")?;
        let lufs = cfg.opt_f64("lufs")?;
        let target = match (peak_db, lufs) {
            (Some(_), Some(_)) => {
                return Err(cfg.invalid(
                    "peak_db",
                    "and lufs are exclusive; set exactly one",
                    "both",
                ))
            }
            (None, Some(l)) => Target::Lufs(l),
            (p, None) => Target::PeakDb(p.unwrap_or(-1.0)),
        };
        match target {
            Target::PeakDb(v) | Target::Lufs(v) if !v.is_finite() => {
                let field = if lufs.is_some() { "lufs" } else { "peak_db" };
                Err(cfg.invalid(field, "must be a finite number", v))
            }
            _ => Ok(Normalize { target }),
        }
    }

    /// A normalizer for `target`.
    pub fn new(target: Target) -> Self {
        Normalize { target }
    }

    /// The linear gain applied to `input` (1.0 for silence), in double precision.
    pub fn gain(&self, input: &Audio) -> f64 {
        match self.target {
            Target::PeakDb(db) => {
                let peak = input.data().iter().fold(0.0f32, |m, &x| m.max(x.abs()));
                if peak == 0.0 || !peak.is_finite() {
                    return 1.0;
                }
                10f64.powf(db / 20.0) / f64::from(peak)
            }
            Target::Lufs(lufs) => {
                let measured = integrated_loudness(input);
                if !measured.is_finite() {
                    return 1.0;
                }
                10f64.powf((lufs - measured) / 20.0)
            }
        }
    }
}

impl NativeNode for Normalize {
    fn process(&mut self, input: Audio) -> NodeResult {
        let gain = self.gain(&input);
        if gain == 1.0 {
            return Ok(vec![Value::Audio(input)]);
        }
        Ok(vec![Value::Audio(scale(input, gain as f32))])
    }
}

/// K-weighting: the BS.1770 high shelf and RLB high pass, from libebur128's analog
/// prototype re-derived for any rate with the bilinear transform (the coefficients
/// of BS.1770-4 at 48 kHz); the same design as the Python node.
fn k_weighting(rate: u32) -> [Biquad; 2] {
    let fs = f64::from(rate);
    let shelf = {
        let (f0, gain_db, q) = (
            1681.974450955533f64,
            3.999843853973347f64,
            0.7071752369554196f64,
        );
        let k = (std::f64::consts::PI * f0 / fs).tan();
        let vh = 10f64.powf(gain_db / 20.0);
        let vb = vh.powf(0.4996667741545416);
        let a0 = 1.0 + k / q + k * k;
        Biquad::new(
            [
                (vh + vb * k / q + k * k) / a0,
                2.0 * (k * k - vh) / a0,
                (vh - vb * k / q + k * k) / a0,
            ],
            [2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0],
        )
    };
    let highpass = {
        let (f0, q) = (38.13547087602444f64, 0.5003270373238773f64);
        let k = (std::f64::consts::PI * f0 / fs).tan();
        let a0 = 1.0 + k / q + k * k;
        Biquad::new(
            [1.0, -2.0, 1.0],
            [2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0],
        )
    };
    [shelf, highpass]
}

/// Integrated loudness (LUFS) per ITU-R BS.1770-4; `-inf` for silence.
///
/// 400 ms blocks with 75 % overlap, absolute gate at -70 LUFS, relative gate
/// 10 LU below the absolutely gated mean. Inputs shorter than one block are
/// measured as a single block. Channel weights are 1.0 (surround weights apply
/// only to 5.1 layouts, which frames do not describe).
pub fn integrated_loudness(input: &Audio) -> f64 {
    let n = input.frames();
    if n == 0 {
        return f64::NEG_INFINITY;
    }
    // Squared K-weighted samples per channel.
    let weighted: Vec<Vec<f64>> = input
        .channel_slices()
        .map(|ch| {
            let [mut shelf, mut highpass] = k_weighting(input.rate);
            ch.iter()
                .map(|&x| {
                    let y = highpass.step(shelf.step(f64::from(x)));
                    y * y
                })
                .collect()
        })
        .collect();
    let block = super::ms_to_samples(input.rate, 400.0);
    let spans: Vec<(usize, usize)> = if n < block {
        vec![(0, n)]
    } else {
        let step = super::ms_to_samples(input.rate, 100.0);
        (0..=(n - block) / step.max(1))
            .map(|j| (j * step, j * step + block))
            .collect()
    };
    // Mean square per block, summed over channels.
    let powers: Vec<f64> = spans
        .iter()
        .map(|&(a, b)| {
            weighted
                .iter()
                .map(|ch| ch[a..b].iter().sum::<f64>() / (b - a) as f64)
                .sum()
        })
        .collect();
    let loudness = |p: f64| -0.691 + 10.0 * p.log10();
    let gated_mean = |threshold: f64| -> Option<f64> {
        let kept: Vec<f64> = powers
            .iter()
            .copied()
            .filter(|&p| loudness(p) > -70.0 && loudness(p) > threshold)
            .collect();
        (!kept.is_empty()).then(|| kept.iter().sum::<f64>() / kept.len() as f64)
    };
    let Some(abs_mean) = gated_mean(-70.0) else {
        return f64::NEG_INFINITY;
    };
    let relative = loudness(abs_mean) - 10.0;
    match gated_mean(relative) {
        Some(mean) => loudness(mean),
        None => f64::NEG_INFINITY,
    }
}

/// Converts float32 samples to int16 PCM as `AudioFrame.to_int16` does.
pub fn float_to_int16(samples: &[f32]) -> Vec<i16> {
    samples
        .iter()
        .map(|&x| (x.clamp(-1.0, 32767.0 / 32768.0) * 32768.0) as i16)
        .collect()
}

/// Converts int16 PCM to float32 as `AudioFrame.from_int16` does.
pub fn int16_to_float(pcm: &[i16]) -> Vec<f32> {
    pcm.iter().map(|&x| f32::from(x) / 32768.0).collect()
}

/// Refuses frames with no samples where a node needs some.
pub fn require_samples(input: &Audio, node: &str) -> std::result::Result<(), NodeFailure> {
    if input.frames() == 0 {
        return Err(NodeFailure::value(format!("{node}: input frame is empty")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f64, amp: f64, rate: u32, secs: f64) -> Audio {
        let n = (f64::from(rate) * secs) as usize;
        let v = (0..n)
            .map(|i| {
                (amp * (2.0 * std::f64::consts::PI * freq * i as f64 / f64::from(rate)).sin())
                    as f32
            })
            .collect();
        Audio::new(v, 1, rate, 0.0)
    }

    #[test]
    fn gain_is_exact_float32_product() {
        let a = sine(440.0, 0.5, 16000, 0.1);
        let original = a.data().to_vec();
        let out = scale(a, Gain::new(-6.0).factor);
        let f = 10f64.powf(-6.0 / 20.0) as f32;
        for (x, y) in original.iter().zip(out.data()) {
            assert_eq!(*y, x * f);
        }
    }

    #[test]
    fn peak_normalize_hits_target() {
        let a = sine(440.0, 0.25, 16000, 0.1);
        let n = Normalize::new(Target::PeakDb(-1.0));
        let g = n.gain(&a) as f32;
        let out = scale(a, g);
        let peak = out.data().iter().fold(0.0f32, |m, &x| m.max(x.abs()));
        assert!((f64::from(peak) - 10f64.powf(-1.0 / 20.0)).abs() < 1e-6);
    }

    #[test]
    fn silence_is_unchanged() {
        let a = Audio::new(vec![0.0; 100], 1, 16000, 0.0);
        assert_eq!(Normalize::new(Target::PeakDb(-1.0)).gain(&a), 1.0);
        assert_eq!(Normalize::new(Target::Lufs(-23.0)).gain(&a), 1.0);
    }

    #[test]
    fn loudness_of_full_scale_1k_sine_is_about_minus_3() {
        // BS.1770: a 0 dBFS 997 Hz sine on one channel reads -3.01 LKFS.
        let a = sine(997.0, 1.0, 48000, 2.0);
        let l = integrated_loudness(&a);
        assert!((l + 3.01).abs() < 0.05, "loudness {l}");
    }

    #[test]
    fn int16_round_trip() {
        let pcm: Vec<i16> = vec![i16::MIN, -1, 0, 1, i16::MAX];
        assert_eq!(float_to_int16(&int16_to_float(&pcm)), pcm);
        assert_eq!(float_to_int16(&[2.0, -2.0]), vec![i16::MAX, i16::MIN]);
    }
}
