//! Small criterion benches of the native kernels on one second of 16/48 kHz audio,
//! fed as 20 ms frames where the node streams. Run: `cargo bench`.

use std::time::Duration;

use _runtime::frame::Audio;
use _runtime::nodes::filter::{Butterworth, Kind};
use _runtime::nodes::level::Gain;
use _runtime::nodes::resample::{Quality, Resample};
use _runtime::nodes::spectral::MelSpectrogram;
use _runtime::nodes::vad::{EnergyVad, VadParams};
use _runtime::nodes::NativeNode;
use criterion::{black_box, criterion_group, criterion_main, Criterion};

fn noise(n: usize) -> Vec<f32> {
    // A cheap deterministic pseudo-random signal (xorshift).
    let mut s = 0x2545_f491_u32;
    (0..n)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s as f32 / u32::MAX as f32 - 0.5) * 0.6
        })
        .collect()
}

fn frames(rate: u32) -> Vec<Vec<f32>> {
    let size = rate as usize / 50;
    noise(rate as usize)
        .chunks(size)
        .map(<[f32]>::to_vec)
        .collect()
}

fn stream(c: &mut Criterion, name: &str, rate: u32, make: impl Fn() -> Box<dyn NativeNode>) {
    let input = frames(rate);
    c.bench_function(name, |b| {
        b.iter(|| {
            let mut node = make();
            let mut outputs = 0;
            for (k, f) in input.iter().enumerate() {
                let audio = Audio::new(f.clone(), 1, rate, k as f64 * 0.02);
                outputs += node.process(audio).expect("processes").len();
            }
            outputs += node.flush().expect("flushes").len();
            black_box(outputs)
        })
    });
}

fn kernels(c: &mut Criterion) {
    stream(c, "gain 1s@16k in 20ms frames", 16000, || {
        Box::new(Gain::new(-6.0))
    });
    stream(c, "highpass order 2, 1s@16k", 16000, || {
        Box::new(Butterworth::new(Kind::High, 80.0, 2))
    });
    stream(c, "resample 48k->16k HQ, 1s", 48000, || {
        Box::new(Resample::new(16000, Quality::Hq))
    });
    stream(c, "energy vad 1s@16k", 16000, || {
        Box::new(EnergyVad::new(VadParams::default()))
    });
    let second = noise(16000);
    c.bench_function("log-mel 64 bands, 1s@16k", |b| {
        let mut mel = MelSpectrogram::new(64, 512, 128, 0.0, None, true);
        b.iter(|| {
            let audio = Audio::new(second.clone(), 1, 16000, 0.0);
            black_box(mel.process(audio).expect("analyses").len())
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    targets = kernels
}
criterion_main!(benches);
