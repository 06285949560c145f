//! Channel and framing nodes: ChannelMix and Rebuffer.

use super::{ms_to_samples, Config, NativeNode, NodeResult};
use crate::error::{NodeFailure, Result};
use crate::frame::{Audio, Value};

/// Changes the channel count: 1->N duplicates, N->1 averages, N->M keeps the first
/// M channels or repeats the last one.
pub struct ChannelMix {
    channels: usize,
}

impl ChannelMix {
    /// Builds from a manifest config (`channels`).
    pub fn from_config(cfg: &Config) -> Result<Self> {
        Ok(ChannelMix {
            channels: cfg.positive_or("channels", Some(1))?,
        })
    }

    /// A mixer to `channels` channels.
    pub fn new(channels: usize) -> Self {
        ChannelMix { channels }
    }

    /// Mixes one frame.
    pub fn mix(&self, input: Audio) -> Audio {
        let have = input.channels();
        if have == self.channels {
            return input;
        }
        let (rate, ts) = (input.rate, input.timestamp);
        if self.channels == 1 {
            return Audio::new(input.mono().into_owned(), 1, rate, ts);
        }
        let rows: Vec<&[f32]> = input.channel_slices().collect();
        let mut out = Vec::with_capacity(input.frames() * self.channels);
        for c in 0..self.channels {
            // 1->N and N->M (M>N) repeat the last channel; M<N keeps the first M.
            out.extend_from_slice(rows[c.min(have - 1)]);
        }
        Audio::new(out, self.channels, rate, ts)
    }
}

impl NativeNode for ChannelMix {
    fn process(&mut self, input: Audio) -> NodeResult {
        Ok(vec![Value::Audio(self.mix(input))])
    }
}

/// Re-chunks a stream into frames of exactly `round(rate*frame_ms/1000)` samples.
pub struct Rebuffer {
    frame_ms: f64,
    /// Pending samples per channel, from `read` on.
    pending: Vec<Vec<f32>>,
    read: usize,
    rate: u32,
    /// Timestamp of the input that started the queue, and the samples emitted
    /// since: an output's timestamp is `origin_ts + emitted / rate`.
    origin_ts: f64,
    emitted: usize,
}

impl Rebuffer {
    /// Builds from a manifest config (`frame_ms`).
    pub fn from_config(cfg: &Config) -> Result<Self> {
        let frame_ms = cfg.f64_or("frame_ms", 20.0)?;
        if !(frame_ms.is_finite() && frame_ms > 0.0) {
            return Err(cfg.invalid("frame_ms", "must be > 0", frame_ms));
        }
        Ok(Rebuffer::new(frame_ms))
    }

    /// A rebuffer to `frame_ms` milliseconds.
    pub fn new(frame_ms: f64) -> Self {
        Rebuffer {
            frame_ms,
            pending: Vec::new(),
            read: 0,
            rate: 0,
            origin_ts: 0.0,
            emitted: 0,
        }
    }

    fn held(&self) -> usize {
        self.pending.first().map_or(0, |c| c.len() - self.read)
    }

    fn take(&mut self, n: usize) -> Audio {
        let ts = self.origin_ts + self.emitted as f64 / f64::from(self.rate);
        let mut out = Vec::with_capacity(n * self.pending.len());
        for ch in &self.pending {
            out.extend_from_slice(&ch[self.read..self.read + n]);
        }
        self.read += n;
        self.emitted += n;
        Audio::new(out, self.pending.len(), self.rate, ts)
    }

    fn drain(&mut self) -> Vec<Value> {
        let held = self.held();
        let out = if held > 0 {
            vec![Value::Audio(self.take(held))]
        } else {
            Vec::new()
        };
        self.pending.clear();
        self.read = 0;
        self.emitted = 0;
        out
    }
}

impl NativeNode for Rebuffer {
    fn process(&mut self, input: Audio) -> NodeResult {
        let size = ms_to_samples(input.rate, self.frame_ms);
        if size == 0 {
            return Err(NodeFailure::value(format!(
                "Rebuffer: frame_ms {} is shorter than one sample at {} Hz",
                self.frame_ms, input.rate
            )));
        }
        let mut outputs = Vec::new();
        if !self.pending.is_empty()
            && (input.rate != self.rate || input.channels() != self.pending.len())
        {
            outputs.extend(self.drain());
        }
        if self.held() == 0 {
            self.pending.clear();
            self.read = 0;
            self.emitted = 0;
            self.rate = input.rate;
            self.origin_ts = input.timestamp;
            if input.frames() == size {
                // Already the right size: pass the frame through untouched.
                outputs.push(Value::Audio(input));
                return Ok(outputs);
            }
            self.pending = vec![Vec::new(); input.channels()];
        }
        // Compact before appending so the buffers stay about one frame long.
        if self.read > 0 {
            for ch in &mut self.pending {
                ch.drain(..self.read);
            }
            self.read = 0;
        }
        for (buf, ch) in self.pending.iter_mut().zip(input.channel_slices()) {
            buf.extend_from_slice(ch);
        }
        while self.held() >= size {
            outputs.push(Value::Audio(self.take(size)));
        }
        Ok(outputs)
    }

    fn flush(&mut self) -> NodeResult {
        Ok(self.drain())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn audio(values: Vec<f32>, channels: usize, ts: f64) -> Audio {
        Audio::new(values, channels, 1000, ts)
    }

    fn unwrap(v: &Value) -> &Audio {
        match v {
            Value::Audio(a) => a,
            other => panic!("not audio: {other:?}"),
        }
    }

    #[test]
    fn channel_mix_rules() {
        let stereo = audio(vec![1.0, 2.0, 3.0, 4.0], 2, 0.0);
        assert_eq!(ChannelMix::new(1).mix(stereo).data(), &[2.0, 3.0]);
        let mono = audio(vec![1.0, 2.0], 1, 0.0);
        assert_eq!(
            ChannelMix::new(3).mix(mono).data(),
            &[1.0, 2.0, 1.0, 2.0, 1.0, 2.0]
        );
        let three = audio(vec![1.0, 2.0, 3.0], 3, 0.0);
        assert_eq!(ChannelMix::new(2).mix(three).data(), &[1.0, 2.0]);
        let two = audio(vec![1.0, 2.0], 2, 0.0);
        assert_eq!(ChannelMix::new(3).mix(two).data(), &[1.0, 2.0, 2.0]);
    }

    #[test]
    fn rebuffer_rechunks_and_flushes_remainder() {
        let mut r = Rebuffer::new(4.0); // 4 samples at 1 kHz
        let mut out = Vec::new();
        let mut t = 0.0;
        for n in [3usize, 5, 2, 7] {
            let v: Vec<f32> = (0..n).map(|i| (t * 1000.0) as f32 + i as f32).collect();
            out.extend(r.process(audio(v, 1, t)).unwrap());
            t += n as f64 / 1000.0;
        }
        out.extend(r.flush().unwrap());
        let sizes: Vec<usize> = out.iter().map(|v| unwrap(v).frames()).collect();
        assert_eq!(sizes, vec![4, 4, 4, 4, 1]);
        let all: Vec<f32> = out.iter().flat_map(|v| unwrap(v).data().to_vec()).collect();
        let expect: Vec<f32> = (0..17).map(|i| i as f32).collect();
        assert_eq!(all, expect);
        for (k, v) in out.iter().enumerate() {
            assert!((unwrap(v).timestamp - 0.004 * k as f64).abs() < 1e-12);
        }
        assert!(r.flush().unwrap().is_empty());
    }
}
