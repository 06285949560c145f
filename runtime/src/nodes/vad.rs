//! Energy-based voice activity detection (EnergyVAD) and TrimSilence.
//!
//! Window level = `10*log10(mean(x**2) + 1e-12)` dBFS over windows of
//! `round(rate*window_ms/1000)` samples of the mono mix; a window is speech when
//! its level is >= `threshold_db`.

use super::{ms_to_samples, Config, NativeNode, NodeResult};
use crate::error::{NodeFailure, Result};
use crate::frame::{Audio, Value};

/// Level of a window in dBFS.
pub fn window_db(mono: &[f32]) -> f64 {
    if mono.is_empty() {
        return 10.0 * 1e-12f64.log10();
    }
    // Eight partial sums (numpy's einsum/dot do not add in order either): the
    // loop vectorises instead of waiting on one add chain per sample.
    let mut acc = [0.0f64; 8];
    let chunks = mono.chunks_exact(8);
    let tail: f64 = chunks
        .remainder()
        .iter()
        .map(|&x| f64::from(x) * f64::from(x))
        .sum();
    for c in chunks {
        for (a, &x) in acc.iter_mut().zip(c) {
            *a += f64::from(x) * f64::from(x);
        }
    }
    let power = (acc.iter().sum::<f64>() + tail) / mono.len() as f64;
    10.0 * (power + 1e-12).log10()
}

/// Parameters shared by the VAD nodes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VadParams {
    /// Speech threshold in dBFS.
    pub threshold_db: f64,
    /// Analysis window in ms.
    pub window_ms: f64,
    /// Shortest kept segment in ms.
    pub min_speech_ms: f64,
    /// Silence that closes a segment, in ms.
    pub hangover_ms: f64,
    /// Audio kept before the first speech window, in ms.
    pub pre_roll_ms: f64,
}

impl Default for VadParams {
    fn default() -> Self {
        VadParams {
            threshold_db: -40.0,
            window_ms: 20.0,
            min_speech_ms: 100.0,
            hangover_ms: 200.0,
            pre_roll_ms: 0.0,
        }
    }
}

/// Emits each speech segment as one frame once it closes.
pub struct EnergyVad {
    p: VadParams,
    state: Option<VadState>,
}

struct VadState {
    rate: u32,
    channels: usize,
    window: usize,
    pre_roll: usize,
    origin_ts: f64,
    /// Consecutive non-speech windows that close a segment.
    hangover: usize,
    /// Shortest kept speech span, in samples.
    min_span: f64,
    /// End of the previous kept segment: pre-roll never reaches before it.
    floor: usize,
    /// Audio per channel from stream sample `buf_start` on.
    buf: Vec<Vec<f32>>,
    buf_start: usize,
    /// Stream index of the next window to analyse.
    next_window: usize,
    /// Open segment: first speech sample, end of the last speech window, and the
    /// number of non-speech windows since.
    segment: Option<(usize, usize, usize)>,
}

impl EnergyVad {
    /// Builds from a manifest config.
    pub fn from_config(cfg: &Config) -> Result<Self> {
        let d = VadParams::default();
        let p = VadParams {
            threshold_db: cfg.finite_or("threshold_db", d.threshold_db)?,
            window_ms: cfg.finite_or("window_ms", d.window_ms)?,
            min_speech_ms: cfg.finite_or("min_speech_ms", d.min_speech_ms)?,
            hangover_ms: cfg.finite_or("hangover_ms", d.hangover_ms)?,
            pre_roll_ms: cfg.finite_or("pre_roll_ms", d.pre_roll_ms)?,
        };
        if p.window_ms <= 0.0 {
            return Err(cfg.invalid("window_ms", "must be > 0", p.window_ms));
        }
        for (field, v) in [
            ("min_speech_ms", p.min_speech_ms),
            ("hangover_ms", p.hangover_ms),
            ("pre_roll_ms", p.pre_roll_ms),
        ] {
            if v < 0.0 {
                return Err(cfg.invalid(field, "must be >= 0", v));
            }
        }
        Ok(EnergyVad::new(p))
    }

    /// A detector with `params`.
    pub fn new(params: VadParams) -> Self {
        EnergyVad {
            p: params,
            state: None,
        }
    }

    fn close(&self, s: &mut VadState, out: &mut Vec<Value>) {
        if let Some((start, end, _)) = s.segment.take() {
            if (end - start) as f64 >= s.min_span {
                let from = start
                    .saturating_sub(s.pre_roll)
                    .max(s.floor)
                    .max(s.buf_start);
                s.floor = end;
                let (a, b) = (from - s.buf_start, end - s.buf_start);
                let mut samples = Vec::with_capacity((b - a) * s.channels);
                for ch in &s.buf {
                    samples.extend_from_slice(&ch[a..b]);
                }
                let ts = s.origin_ts + from as f64 / f64::from(s.rate);
                out.push(Value::Audio(Audio::new(samples, s.channels, s.rate, ts)));
            }
        }
    }

    fn analyse(&self, s: &mut VadState, out: &mut Vec<Value>) {
        let end = s.buf_start + s.buf[0].len();
        let mut mono = vec![0.0f32; if s.channels > 1 { s.window } else { 0 }];
        while s.next_window + s.window <= end {
            let a = s.next_window - s.buf_start;
            let level = if s.channels == 1 {
                // No mix to make: read the window in place.
                window_db(&s.buf[0][a..a + s.window])
            } else {
                mix_into(&s.buf, a, &mut mono);
                window_db(&mono)
            };
            let speech = level >= self.p.threshold_db;
            let w_end = s.next_window + s.window;
            match (&mut s.segment, speech) {
                (None, true) => s.segment = Some((s.next_window, w_end, 0)),
                (None, false) => {}
                (Some(seg), true) => {
                    seg.1 = w_end;
                    seg.2 = 0;
                }
                (Some(seg), false) => {
                    seg.2 += 1;
                    if seg.2 >= s.hangover {
                        self.close(s, out);
                    }
                }
            }
            s.next_window = w_end;
        }
        // Keep only what a segment (or a future one's pre-roll) can still need.
        let keep_from = match s.segment {
            Some((start, _, _)) => start.saturating_sub(s.pre_roll),
            None => s.next_window.saturating_sub(s.pre_roll),
        }
        .max(s.buf_start);
        let drop = keep_from - s.buf_start;
        if drop > 0 && drop * 2 >= s.buf[0].len() {
            for ch in &mut s.buf {
                ch.drain(..drop);
            }
            s.buf_start = keep_from;
        }
    }
}

/// Mono mix of `buf[..][a..a+out.len()]` into `out`: numpy's float32 mean over
/// the channels (rows added in order, then divided).
fn mix_into(buf: &[Vec<f32>], a: usize, out: &mut [f32]) {
    let n = out.len();
    out.copy_from_slice(&buf[0][a..a + n]);
    if buf.len() == 1 {
        return;
    }
    for ch in &buf[1..] {
        for (o, &x) in out.iter_mut().zip(&ch[a..a + n]) {
            *o += x;
        }
    }
    let count = buf.len() as f32;
    out.iter_mut().for_each(|o| *o /= count);
}

impl NativeNode for EnergyVad {
    fn process(&mut self, input: Audio) -> NodeResult {
        let mut out = Vec::new();
        let changed = self
            .state
            .as_ref()
            .is_some_and(|s| s.rate != input.rate || s.channels != input.channels());
        if changed {
            out.extend(self.flush()?);
        }
        if self.state.is_none() {
            let window = ms_to_samples(input.rate, self.p.window_ms);
            if window == 0 {
                return Err(NodeFailure::value(format!(
                    "EnergyVAD: window_ms {} is shorter than one sample at {} Hz",
                    self.p.window_ms, input.rate
                )));
            }
            self.state = Some(VadState {
                rate: input.rate,
                channels: input.channels(),
                window,
                pre_roll: ms_to_samples(input.rate, self.p.pre_roll_ms),
                origin_ts: input.timestamp,
                // The epsilon keeps e.g. 200 / 20 from rounding up to 11 windows.
                hangover: (self.p.hangover_ms / self.p.window_ms - 1e-9)
                    .ceil()
                    .max(1.0) as usize,
                min_span: self.p.min_speech_ms * f64::from(input.rate) / 1000.0,
                floor: 0,
                buf: vec![Vec::new(); input.channels()],
                buf_start: 0,
                next_window: 0,
                segment: None,
            });
        }
        let mut s = self.state.take().expect("set above");
        for (buf, ch) in s.buf.iter_mut().zip(input.channel_slices()) {
            buf.extend_from_slice(ch);
        }
        self.analyse(&mut s, &mut out);
        self.state = Some(s);
        Ok(out)
    }

    fn flush(&mut self) -> NodeResult {
        let mut out = Vec::new();
        if let Some(mut s) = self.state.take() {
            self.close(&mut s, &mut out);
        }
        Ok(out)
    }
}

/// Drops leading and trailing windows below the threshold from each input.
pub struct TrimSilence {
    threshold_db: f64,
    window_ms: f64,
}

impl TrimSilence {
    /// Builds from a manifest config.
    pub fn from_config(cfg: &Config) -> Result<Self> {
        let threshold_db = cfg.finite_or("threshold_db", -40.0)?;
        let window_ms = cfg.finite_or("window_ms", 20.0)?;
        if window_ms <= 0.0 {
            return Err(cfg.invalid("window_ms", "must be > 0", window_ms));
        }
        Ok(TrimSilence {
            threshold_db,
            window_ms,
        })
    }

    /// A trimmer with the given threshold and window.
    pub fn new(threshold_db: f64, window_ms: f64) -> Self {
        TrimSilence {
            threshold_db,
            window_ms,
        }
    }
}

impl NativeNode for TrimSilence {
    fn process(&mut self, input: Audio) -> NodeResult {
        let window = ms_to_samples(input.rate, self.window_ms).max(1);
        let mono = input.mono();
        let loud: Vec<bool> = mono
            .chunks(window)
            .map(|w| window_db(w) >= self.threshold_db)
            .collect();
        let Some(first) = loud.iter().position(|&l| l) else {
            return Ok(Vec::new());
        };
        let last = loud.iter().rposition(|&l| l).expect("one is loud");
        let n = input.frames();
        let (a, b) = (first * window, ((last + 1) * window).min(n));
        if a == 0 && b == n {
            return Ok(vec![Value::Audio(input)]);
        }
        let mut samples = Vec::with_capacity((b - a) * input.channels());
        for ch in input.channel_slices() {
            samples.extend_from_slice(&ch[a..b]);
        }
        let ts = input.timestamp + a as f64 / f64::from(input.rate);
        Ok(vec![Value::Audio(Audio::new(
            samples,
            input.channels(),
            input.rate,
            ts,
        ))])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 1 kHz test stream: `spec` is (ms, loud?) pieces.
    fn stream(spec: &[(usize, bool)]) -> Vec<f32> {
        spec.iter()
            .flat_map(|&(ms, loud)| {
                (0..ms).map(move |i| {
                    if loud {
                        if i % 2 == 0 {
                            0.5
                        } else {
                            -0.5
                        }
                    } else {
                        0.0
                    }
                })
            })
            .collect()
    }

    fn run(vad: &mut EnergyVad, x: &[f32], chunk: usize) -> Vec<Audio> {
        let mut out = Vec::new();
        for (k, c) in x.chunks(chunk).enumerate() {
            let ts = (k * chunk) as f64 / 1000.0;
            out.extend(vad.process(Audio::new(c.to_vec(), 1, 1000, ts)).unwrap());
        }
        out.extend(vad.flush().unwrap());
        out.into_iter()
            .map(|v| match v {
                Value::Audio(a) => a,
                other => panic!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn segments_open_close_and_drop_short_bursts() {
        let x = stream(&[
            (100, false),
            (300, true),
            (400, false),
            (40, true),
            (400, false),
            (200, true),
        ]);
        for chunk in [7, 20, 33, 1000] {
            let mut vad = EnergyVad::new(VadParams::default());
            let segs = run(&mut vad, &x, chunk);
            // The 40 ms burst is shorter than min_speech_ms and is dropped; the last
            // segment is still open at the end and comes out of flush.
            assert_eq!(segs.len(), 2, "chunk {chunk}");
            assert!((segs[0].timestamp - 0.1).abs() < 1e-9);
            assert_eq!(segs[0].frames(), 300);
            assert!((segs[1].timestamp - 1.24).abs() < 1e-9);
            assert_eq!(segs[1].frames(), 200);
        }
    }

    #[test]
    fn window_level_matches_an_in_order_sum() {
        let mut s = 0x1234_5678_u32;
        let x: Vec<f32> = (0..1001)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 17;
                s ^= s << 5;
                (s as f32 / u32::MAX as f32 - 0.5) * 1e-3
            })
            .collect();
        for len in [0, 1, 7, 8, 9, 320, 1001] {
            let w = &x[..len];
            let power =
                w.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / len.max(1) as f64;
            let expected = 10.0 * (power + 1e-12).log10();
            assert!((window_db(w) - expected).abs() < 1e-9, "len {len}");
        }
    }

    #[test]
    fn trim_silence_keeps_loud_windows() {
        let x = stream(&[(40, false), (60, true), (30, false)]);
        let mut t = TrimSilence::new(-40.0, 20.0);
        let out = t.process(Audio::new(x, 1, 1000, 0.0)).unwrap();
        let Value::Audio(a) = &out[0] else { panic!() };
        assert_eq!(a.frames(), 60);
        assert!((a.timestamp - 0.04).abs() < 1e-12);
        let silent = t.process(Audio::new(vec![0.0; 50], 1, 1000, 0.0)).unwrap();
        assert!(silent.is_empty());
    }
}
