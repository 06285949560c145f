//! Butterworth high-/low-pass filters as second-order sections, the same design as
//! `scipy.signal.butter(order, cutoff, btype, fs=rate, output="sos")`, run in
//! direct form II transposed like `scipy.signal.sosfilt`, in float64.

use std::f64::consts::PI;

use super::{Config, NativeNode, NodeResult};
use crate::error::{NodeFailure, Result};
use crate::frame::{Audio, Value};

/// One second-order section with its state (direct form II transposed).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Biquad {
    b: [f64; 3],
    a: [f64; 2],
    z: [f64; 2],
}

impl Biquad {
    /// A section `b0 + b1 z^-1 + b2 z^-2 / 1 + a1 z^-1 + a2 z^-2` at rest.
    pub fn new(b: [f64; 3], a: [f64; 2]) -> Self {
        Biquad { b, a, z: [0.0; 2] }
    }

    /// Numerator and denominator as scipy's sos row `[b0 b1 b2 1 a1 a2]`.
    pub fn sos_row(&self) -> [f64; 6] {
        [self.b[0], self.b[1], self.b[2], 1.0, self.a[0], self.a[1]]
    }

    /// Filters one sample.
    #[inline]
    pub fn step(&mut self, x: f64) -> f64 {
        let y = self.b[0] * x + self.z[0];
        self.z[0] = self.b[1] * x - self.a[0] * y + self.z[1];
        self.z[1] = self.b[2] * x - self.a[1] * y;
        y
    }

    /// Clears the state.
    pub fn reset(&mut self) {
        self.z = [0.0; 2];
    }
}

/// Which side of the cutoff passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// High pass.
    High,
    /// Low pass.
    Low,
}

impl Kind {
    fn node_name(self) -> &'static str {
        match self {
            Kind::High => "HighPass",
            Kind::Low => "LowPass",
        }
    }
}

/// Digital Butterworth sections for `order`, `cutoff` Hz at `rate` Hz.
///
/// Poles come from the analog prototype through the pre-warped bilinear transform;
/// conjugate pairs make biquads, an odd order adds one first-order section. Each
/// section has unit gain at DC (low pass) or Nyquist (high pass), so the cascade
/// equals scipy's single-gain sos up to rounding.
pub fn butterworth(kind: Kind, order: usize, cutoff: f64, rate: f64) -> Vec<Biquad> {
    let fs2 = 2.0 * rate;
    let warped = fs2 * (PI * cutoff / rate).tan();
    let n = order as f64;
    let bilinear = |re: f64, im: f64| -> (f64, f64) {
        // (fs2 + p) / (fs2 - p) for complex p.
        let (nr, ni) = (fs2 + re, im);
        let (dr, di) = (fs2 - re, -im);
        let d = dr * dr + di * di;
        ((nr * dr + ni * di) / d, (ni * dr - nr * di) / d)
    };
    let analog = |m: f64| -> (f64, f64) {
        // Prototype pole -exp(i*pi*m/(2N)), scaled for the cutoff.
        let theta = PI * m / (2.0 * n);
        let (re, im) = (-theta.cos(), -theta.sin());
        match kind {
            Kind::Low => (re * warped, im * warped),
            Kind::High => {
                // warped / p
                let d = re * re + im * im;
                (warped * re / d, -warped * im / d)
            }
        }
    };
    let mut sections = Vec::new();
    // m = -(N-1), -(N-3), ...: the negative ones pair with their conjugates.
    let mut m = -(n - 1.0);
    while m < 0.0 {
        let (pr, pi) = analog(m);
        let (zr, zi) = bilinear(pr, pi);
        let a = [-2.0 * zr, zr * zr + zi * zi];
        sections.push(second_order(kind, a));
        m += 2.0;
    }
    if order % 2 == 1 {
        let (pr, _) = analog(0.0);
        let (zr, _) = bilinear(pr, 0.0);
        let a = [-zr, 0.0];
        let (b, g) = match kind {
            Kind::Low => ([1.0, 1.0, 0.0], (1.0 + a[0]) / 2.0),
            Kind::High => ([1.0, -1.0, 0.0], (1.0 - a[0]) / 2.0),
        };
        sections.push(Biquad::new([b[0] * g, b[1] * g, 0.0], a));
    }
    sections
}

fn second_order(kind: Kind, a: [f64; 2]) -> Biquad {
    let (b, g) = match kind {
        Kind::Low => ([1.0, 2.0, 1.0], (1.0 + a[0] + a[1]) / 4.0),
        Kind::High => ([1.0, -2.0, 1.0], (1.0 - a[0] + a[1]) / 4.0),
    };
    Biquad::new([b[0] * g, b[1] * g, b[2] * g], a)
}

/// HighPass / LowPass node: per-channel state carried across frames.
pub struct Butterworth {
    kind: Kind,
    cutoff: f64,
    order: usize,
    format: Option<(u32, usize)>,
    /// Sections per channel.
    chains: Vec<Vec<Biquad>>,
}

impl Butterworth {
    /// Builds from a manifest config (`cutoff_hz`, `order`).
    pub fn from_config(cfg: &Config, kind: Kind) -> Result<Self> {
        let cutoff = cfg.f64_required("cutoff_hz")?;
        if !(cutoff.is_finite() && cutoff > 0.0) {
            return Err(cfg.invalid("cutoff_hz", "must be > 0", cutoff));
        }
        let order = cfg.positive_or("order", Some(2))?;
        if order > 16 {
            return Err(cfg.invalid("order", "must be between 1 and 16", order));
        }
        Ok(Butterworth::new(kind, cutoff, order))
    }

    /// A filter of `order` at `cutoff` Hz.
    pub fn new(kind: Kind, cutoff: f64, order: usize) -> Self {
        Butterworth {
            kind,
            cutoff,
            order,
            format: None,
            chains: Vec::new(),
        }
    }

    fn prepare(&mut self, rate: u32, channels: usize) -> std::result::Result<(), NodeFailure> {
        if self.format == Some((rate, channels)) {
            return Ok(());
        }
        let nyquist = f64::from(rate) / 2.0;
        if !(self.cutoff > 0.0 && self.cutoff < nyquist) {
            return Err(NodeFailure::value(format!(
                "{}: cutoff_hz must be between 0 and half the sample rate \
                 ({nyquist} Hz), got {}",
                self.kind.node_name(),
                self.cutoff
            )));
        }
        let design = butterworth(self.kind, self.order, self.cutoff, f64::from(rate));
        self.chains = vec![design; channels];
        self.format = Some((rate, channels));
        Ok(())
    }

    /// Filters a frame (in place when Rust owns it), updating the state.
    pub fn filter(&mut self, input: Audio) -> std::result::Result<Audio, NodeFailure> {
        self.prepare(input.rate, input.channels())?;
        let chains = &mut self.chains;
        Ok(input.modified(|data, frames| {
            for (ch, chain) in data.chunks_mut(frames.max(1)).zip(chains.iter_mut()) {
                for x in ch.iter_mut() {
                    let mut y = f64::from(*x);
                    for section in chain.iter_mut() {
                        y = section.step(y);
                    }
                    *x = y as f32;
                }
            }
        }))
    }
}

impl NativeNode for Butterworth {
    fn process(&mut self, input: Audio) -> NodeResult {
        Ok(vec![Value::Audio(self.filter(input)?)])
    }

    fn flush(&mut self) -> NodeResult {
        self.format = None;
        self.chains.clear();
        Ok(Vec::new())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: &[f64], b: &[f64]) {
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-9, "{a:?} != {b:?}");
        }
    }

    #[test]
    fn order2_lowpass_matches_scipy() {
        // scipy.signal.butter(2, 1000, 'lowpass', fs=16000, output='sos')
        let s = butterworth(Kind::Low, 2, 1000.0, 16000.0);
        assert_eq!(s.len(), 1);
        close(
            &s[0].sos_row(),
            &[
                0.029_954_582_208_092_47,
                0.059_909_164_416_184_95,
                0.029_954_582_208_092_47,
                1.0,
                -1.454_243_586_251_585,
                0.574_061_915_083_954_9,
            ],
        );
    }

    #[test]
    fn order2_highpass_matches_scipy() {
        // scipy.signal.butter(2, 100, 'highpass', fs=16000, output='sos')
        let s = butterworth(Kind::High, 2, 100.0, 16000.0);
        close(
            &s[0].sos_row(),
            &[
                0.972_613_898_499_843_8,
                -1.945_227_796_999_687_6,
                0.972_613_898_499_843_8,
                1.0,
                -1.944_477_657_767_093_5,
                0.945_977_936_232_281_3,
            ],
        );
    }

    #[test]
    fn odd_order_has_unit_dc_gain() {
        let mut s = butterworth(Kind::Low, 3, 2000.0, 16000.0);
        assert_eq!(s.len(), 2);
        let mut y = 0.0;
        for _ in 0..5000 {
            y = s.iter_mut().fold(1.0, |x, b| b.step(x));
        }
        assert!((y - 1.0).abs() < 1e-9);
    }

    #[test]
    fn cutoff_above_nyquist_fails_naming_field() {
        let mut f = Butterworth::new(Kind::High, 9000.0, 2);
        let err = f
            .filter(Audio::new(vec![0.0; 10], 1, 16000, 0.0))
            .unwrap_err();
        assert!(err.message.contains("cutoff_hz"));
    }
}
