//! Clip-level gathering: the rule of `remotemedia.nodes.clip` for native nodes
//! that need a whole signal (TrimSilence, Normalize).
//!
//! Consecutive frames of one rate and channel count form one clip while each
//! starts where the previous one ended (within half a sample); a frame that does
//! not continue the clip ends it, and `flush` ends the last one. Each clip is
//! joined and handed to the wrapped node as one input, so a stream of 20 ms frames
//! is trimmed or levelled as the clip it is, exactly as the Python nodes do.

use super::{NativeNode, NodeResult};
use crate::frame::Audio;

/// Gathers the frames of each clip and runs `inner` on the joined clip.
pub struct Gather<N: NativeNode> {
    inner: N,
    held: Vec<Audio>,
    samples: usize,
}

impl<N: NativeNode> Gather<N> {
    /// Wraps a node that processes one whole clip per call.
    pub fn new(inner: N) -> Self {
        Gather {
            inner,
            held: Vec::new(),
            samples: 0,
        }
    }

    /// Whether `frame` continues the held clip (true when nothing is held); the
    /// arithmetic is the Python `ClipBuffer.continues`, so both engines split alike.
    fn continues(&self, frame: &Audio) -> bool {
        let Some(first) = self.held.first() else {
            return true;
        };
        if frame.rate != first.rate || frame.channels() != first.channels() {
            return false;
        }
        let rate = f64::from(first.rate);
        let end = first.timestamp + self.samples as f64 / rate;
        (frame.timestamp - end).abs() <= 0.5 / rate
    }

    /// The held frames joined end to end (a single frame as it is), or None.
    fn take(&mut self) -> Option<Audio> {
        self.samples = 0;
        let mut held = std::mem::take(&mut self.held);
        if held.len() <= 1 {
            return held.pop();
        }
        let (channels, rate, timestamp) = (held[0].channels(), held[0].rate, held[0].timestamp);
        let total: usize = held.iter().map(Audio::frames).sum();
        let mut samples = Vec::with_capacity(total * channels);
        for channel in 0..channels {
            for frame in &held {
                samples.extend_from_slice(frame.channel(channel));
            }
        }
        Some(Audio::new(samples, channels, rate, timestamp))
    }
}

impl<N: NativeNode> NativeNode for Gather<N> {
    fn process(&mut self, input: Audio) -> NodeResult {
        let mut out = Vec::new();
        if !self.continues(&input) {
            if let Some(clip) = self.take() {
                out = self.inner.process(clip)?;
            }
        }
        self.samples += input.frames();
        self.held.push(input);
        Ok(out)
    }

    fn flush(&mut self) -> NodeResult {
        let mut out = match self.take() {
            Some(clip) => self.inner.process(clip)?,
            None => Vec::new(),
        };
        out.extend(self.inner.flush()?);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Value;

    /// Emits each input's sample count, to see how inputs were grouped.
    struct Count;

    impl NativeNode for Count {
        fn process(&mut self, input: Audio) -> NodeResult {
            let n = input.frames() as f32;
            Ok(vec![Value::Audio(Audio::new(
                vec![n],
                1,
                input.rate,
                input.timestamp,
            ))])
        }
    }

    fn counts(values: Vec<Value>) -> Vec<(f32, f64)> {
        values
            .into_iter()
            .map(|v| match v {
                Value::Audio(a) => (a.data()[0], a.timestamp),
                _ => unreachable!(),
            })
            .collect()
    }

    fn frame(n: usize, timestamp: f64) -> Audio {
        Audio::new(vec![0.25; 2 * n], 2, 1000, timestamp)
    }

    #[test]
    fn contiguous_frames_are_one_clip_until_a_gap() {
        let mut g = Gather::new(Count);
        assert!(g.process(frame(20, 0.0)).unwrap().is_empty());
        assert!(g.process(frame(20, 0.020)).unwrap().is_empty());
        assert!(g.process(frame(10, 0.040)).unwrap().is_empty());
        // A gap ends the first clip (50 samples at t=0).
        assert_eq!(counts(g.process(frame(5, 1.0)).unwrap()), vec![(50.0, 0.0)]);
        assert_eq!(counts(g.flush().unwrap()), vec![(5.0, 1.0)]);
        assert!(g.flush().unwrap().is_empty());
    }

    #[test]
    fn joined_clip_keeps_channel_order() {
        let mut g = Gather::new(Count);
        let a = Audio::new(vec![1.0, 2.0, 10.0, 20.0], 2, 1000, 0.0);
        let b = Audio::new(vec![3.0, 30.0], 2, 1000, 0.002);
        g.process(a).unwrap();
        g.process(b).unwrap();
        let clip = g.take().unwrap();
        assert_eq!(clip.data(), &[1.0, 2.0, 3.0, 10.0, 20.0, 30.0]);
    }
}
