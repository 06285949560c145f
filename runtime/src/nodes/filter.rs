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

    /// Filters `buf` in place, one sample at a time (the reference recursion).
    pub fn run(&mut self, buf: &mut [f64]) {
        for x in buf {
            *x = self.step(*x);
        }
    }
}

/// A section's recursion unrolled over blocks of 4 samples (state-space form).
///
/// With the DF2T state `z` and `A = [[-a1, 1], [-a2, 0]]`, `B = [b1 - a1*b0,
/// b2 - a2*b0]`, `C = [1, 0]`, `D = b0`: `y[k] = C A^k z + D x[k] +
/// sum_{j<k} C A^(k-1-j) B x[j]` and `z' = A^4 z + sum_j A^(3-j) B x[j]`. The four
/// outputs are one vector and the serial dependency is only `z -> z'` (two FMAs
/// per block) instead of a multiply-add chain per sample.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Block4 {
    /// `y[k] += z0 * zy[0][k] + z1 * zy[1][k]`.
    zy: [[f64; 4]; 2],
    /// `y[k] += x[j] * xy[j][k]`.
    xy: [[f64; 4]; 4],
    /// `z'[i] = sum_l zz[i][l] * z[l] + sum_j xz[j][i] * x[j]`.
    zz: [[f64; 2]; 2],
    xz: [[f64; 2]; 4],
}

impl Block4 {
    fn new(s: &Biquad) -> Self {
        type M = [[f64; 2]; 2];
        let a: M = [[-s.a[0], 1.0], [-s.a[1], 0.0]];
        let b = [s.b[1] - s.a[0] * s.b[0], s.b[2] - s.a[1] * s.b[0]];
        let mul = |p: M, q: M| -> M {
            let mut r = [[0.0; 2]; 2];
            for i in 0..2 {
                for j in 0..2 {
                    r[i][j] = p[i][0] * q[0][j] + p[i][1] * q[1][j];
                }
            }
            r
        };
        // A^0 .. A^4.
        let mut pw = [[[1.0, 0.0], [0.0, 1.0]]; 5];
        for k in 1..5 {
            pw[k] = mul(pw[k - 1], a);
        }
        let apply = |m: M| {
            [
                m[0][0] * b[0] + m[0][1] * b[1],
                m[1][0] * b[0] + m[1][1] * b[1],
            ]
        };
        let mut blk = Block4 {
            zy: [[0.0; 4]; 2],
            xy: [[0.0; 4]; 4],
            zz: pw[4],
            xz: [[0.0; 2]; 4],
        };
        for k in 0..4 {
            blk.zy[0][k] = pw[k][0][0];
            blk.zy[1][k] = pw[k][0][1];
            for j in 0..4 {
                blk.xy[j][k] = match k.cmp(&j) {
                    std::cmp::Ordering::Less => 0.0,
                    std::cmp::Ordering::Equal => s.b[0],
                    std::cmp::Ordering::Greater => apply(pw[k - 1 - j])[0],
                };
            }
        }
        for j in 0..4 {
            blk.xz[j] = apply(pw[3 - j]);
        }
        blk
    }
}

/// Runs `section` over `buf` in place: whole blocks of 4 with AVX2, the rest (and
/// everything without AVX2) one sample at a time. The state is the same DF2T `z`
/// either way, so frames of any length continue each other.
fn run_section(section: &mut Biquad, block: &Block4, buf: &mut [f64], simd: bool) {
    let whole = if simd { buf.len() / 4 * 4 } else { 0 };
    #[cfg(target_arch = "x86_64")]
    if whole > 0 {
        // SAFETY: `simd` is only true when the CPU has AVX2 and FMA.
        unsafe { run_blocks_avx2(block, &mut section.z, &mut buf[..whole]) };
    }
    let _ = block;
    section.run(&mut buf[whole..]);
}

/// [`Block4`] over `buf` (a multiple of 4 long). The state is one vector
/// `[z0, z1, z0, z1]`: one FMA chain updates both, and an in-lane permute (one
/// cycle) broadcasts each for the next block.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn run_blocks_avx2(c: &Block4, z: &mut [f64; 2], buf: &mut [f64]) {
    use std::arch::x86_64::{
        __m256d, _mm256_add_pd, _mm256_broadcast_sd, _mm256_cvtsd_f64, _mm256_fmadd_pd,
        _mm256_loadu_pd, _mm256_mul_pd, _mm256_permute_pd, _mm256_setr_pd, _mm256_storeu_pd,
    };
    let pair = |v: [f64; 2]| _mm256_setr_pd(v[0], v[1], v[0], v[1]);
    let zy = c.zy.map(|r| _mm256_loadu_pd(r.as_ptr()));
    let xy = c.xy.map(|r| _mm256_loadu_pd(r.as_ptr()));
    // Columns of A^4 and the input weights of the new state, as [z0, z1, z0, z1].
    let zz = [
        pair([c.zz[0][0], c.zz[1][0]]),
        pair([c.zz[0][1], c.zz[1][1]]),
    ];
    let xz = c.xz.map(pair);
    let mut state = pair(*z);
    for chunk in buf.chunks_exact_mut(4) {
        let x = [0, 1, 2, 3].map(|j| _mm256_broadcast_sd(&chunk[j]));
        // Input terms: independent of the state, off the serial path.
        let term = |w: [__m256d; 4]| {
            _mm256_add_pd(
                _mm256_fmadd_pd(x[1], w[1], _mm256_mul_pd(x[0], w[0])),
                _mm256_fmadd_pd(x[3], w[3], _mm256_mul_pd(x[2], w[2])),
            )
        };
        let (y_x, z_x) = (term(xy), term(xz));
        let z0 = _mm256_permute_pd::<0b0000>(state);
        let z1 = _mm256_permute_pd::<0b1111>(state);
        let y = _mm256_add_pd(_mm256_mul_pd(z0, zy[0]), _mm256_fmadd_pd(z1, zy[1], y_x));
        // A product and an FMA side by side, then an add: a shorter chain (the
        // latency bound of the loop) than two dependent FMAs.
        state = _mm256_add_pd(_mm256_mul_pd(z0, zz[0]), _mm256_fmadd_pd(z1, zz[1], z_x));
        _mm256_storeu_pd(chunk.as_mut_ptr(), y);
    }
    let z1 = _mm256_permute_pd::<0b1111>(state);
    *z = [_mm256_cvtsd_f64(state), _mm256_cvtsd_f64(z1)];
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
    /// Block form of each section (the same for every channel).
    blocks: Vec<Block4>,
    /// Scratch: one channel in float64.
    buf: Vec<f64>,
    /// AVX2+FMA kernels usable (asked once).
    simd: bool,
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
            blocks: Vec::new(),
            buf: Vec::new(),
            simd: crate::simd::has_avx2_fma(),
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
        self.blocks = design.iter().map(Block4::new).collect();
        self.chains = vec![design; channels];
        self.format = Some((rate, channels));
        Ok(())
    }

    /// Filters a frame (in place when Rust owns it), updating the state.
    pub fn filter(&mut self, input: Audio) -> std::result::Result<Audio, NodeFailure> {
        self.prepare(input.rate, input.channels())?;
        let (chains, blocks, buf, simd) =
            (&mut self.chains, &self.blocks, &mut self.buf, self.simd);
        Ok(input.modified(|data, frames| {
            for (ch, chain) in data.chunks_mut(frames.max(1)).zip(chains.iter_mut()) {
                // The cascade one section at a time over the whole frame, in f64.
                buf.clear();
                buf.extend(ch.iter().map(|&x| f64::from(x)));
                for (section, block) in chain.iter_mut().zip(blocks) {
                    run_section(section, block, buf, simd);
                }
                for (x, &y) in ch.iter_mut().zip(buf.iter()) {
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
    use crate::nodes::test_noise as noise;

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

    const DESIGNS: [(Kind, usize, f64, f64); 7] = [
        (Kind::High, 2, 80.0, 16000.0),
        (Kind::Low, 3, 1000.0, 16000.0),
        (Kind::High, 5, 20.0, 48000.0),
        (Kind::Low, 1, 5000.0, 44100.0),
        (Kind::High, 8, 300.0, 16000.0),
        (Kind::Low, 16, 7000.0, 16000.0),
        (Kind::Low, 4, 30.0, 48000.0),
    ];

    #[test]
    fn block_recursion_matches_per_sample_in_f64() {
        let x: Vec<f64> = noise(100_001, 3).into_iter().map(f64::from).collect();
        for (kind, order, cutoff, rate) in DESIGNS {
            let design = butterworth(kind, order, cutoff, rate);
            let mut reference = x.clone();
            let mut ref_sections = design.clone();
            for section in &mut ref_sections {
                section.run(&mut reference);
            }
            let scale = reference.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for simd in [false, crate::simd::has_avx2_fma()] {
                let mut sections = design.clone();
                let blocks: Vec<Block4> = design.iter().map(Block4::new).collect();
                let mut y = x.clone();
                // Frame lengths that split blocks anywhere, including empty frames.
                let mut at = 0;
                for len in [0, 1, 5, 2, 320, 0, 1023, 4096].iter().cycle() {
                    if at == y.len() {
                        break;
                    }
                    let end = (at + len).min(y.len());
                    for (section, block) in sections.iter_mut().zip(&blocks) {
                        run_section(section, block, &mut y[at..end], simd);
                    }
                    at = end;
                }
                let err = y
                    .iter()
                    .zip(&reference)
                    .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
                assert!(
                    err <= 1e-9 * scale,
                    "{kind:?} order {order} at {cutoff}/{rate}: error {err:e} of {scale:e}"
                );
                // The states carried to the next frame agree too.
                for (a, b) in sections.iter().zip(&ref_sections) {
                    for (u, v) in a.z.iter().zip(&b.z) {
                        assert!((u - v).abs() <= 1e-9 * scale, "state {u} vs {v}");
                    }
                }
            }
        }
    }

    #[test]
    fn node_matches_per_sample_filter_on_stereo_frames() {
        let n = 20_011;
        let (left, right) = (noise(n, 5), noise(n, 9));
        for (kind, order, cutoff, rate) in DESIGNS {
            let mut node = Butterworth::new(kind, cutoff, order);
            let mut out = [Vec::new(), Vec::new()];
            let mut at = 0;
            for len in [320, 1, 0, 7, 960, 3].iter().cycle() {
                if at == n {
                    break;
                }
                let end = (at + len).min(n);
                let mut samples = left[at..end].to_vec();
                samples.extend_from_slice(&right[at..end]);
                let y = node
                    .filter(Audio::new(samples, 2, rate as u32, 0.0))
                    .unwrap();
                let frames = end - at;
                out[0].extend_from_slice(&y.data()[..frames]);
                out[1].extend_from_slice(&y.data()[frames..]);
                at = end;
            }
            for (ch, x) in out.iter().zip([&left, &right]) {
                let mut chain = butterworth(kind, order, cutoff, rate);
                let reference: Vec<f32> = x
                    .iter()
                    .map(|&v| chain.iter_mut().fold(f64::from(v), |y, s| s.step(y)) as f32)
                    .collect();
                let scale = reference.iter().fold(0.0f32, |m, v| m.max(v.abs()));
                for (a, b) in ch.iter().zip(&reference) {
                    // Float32 outputs: at most a rounding step apart.
                    assert!(
                        (a - b).abs() <= 2e-7 * scale,
                        "{kind:?} {order}: {a} vs {b}"
                    );
                }
            }
        }
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
