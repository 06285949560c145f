//! The executor on native-only manifests: order, flushing, fusion, errors and
//! cancellation (no Python needed).

use _runtime::executor::{Next, Plan, RUNTIME};
use _runtime::frame::{Audio, Value};
use _runtime::manifest;

fn plan(json: &str) -> Plan {
    Plan::native(&manifest::parse(json).expect("valid manifest")).expect("native plan")
}

fn audio(v: &Value) -> &Audio {
    match v {
        Value::Audio(a) => a,
        other => panic!("expected audio, got {other:?}"),
    }
}

fn ramp_frames(count: usize, size: usize, rate: u32) -> Vec<Value> {
    (0..count)
        .map(|k| {
            let data = (0..size).map(|i| (k * size + i) as f32 / 1e6).collect();
            Value::Audio(Audio::new(
                data,
                1,
                rate,
                (k * size) as f64 / f64::from(rate),
            ))
        })
        .collect()
}

#[test]
fn fused_chain_keeps_order_and_flushes() {
    let json = r#"{"version": 1, "nodes": [
        {"id": "r", "type": "Rebuffer", "config": {"frame_ms": 30}},
        {"id": "g", "type": "Gain", "config": {"db": 0}}],
        "options": {"queue_size": 2}}"#;
    let p = plan(json);
    assert!(p.placements.iter().all(|p| p.native && p.stage == 0));
    let mut running = p.start();
    let out = RUNTIME
        .block_on(running.run_all(ramp_frames(50, 160, 16000)))
        .expect("runs");
    // 50 x 10 ms = 500 ms -> 16 frames of 30 ms and a 20 ms remainder from flush.
    assert_eq!(out.len(), 17);
    let all: Vec<f32> = out.iter().flat_map(|v| audio(v).data().to_vec()).collect();
    let expect: Vec<f32> = (0..8000).map(|i| i as f32 / 1e6).collect();
    assert_eq!(all, expect);
    for (k, v) in out.iter().enumerate() {
        assert!((audio(v).timestamp - 0.03 * k as f64).abs() < 1e-9);
    }
}

#[test]
fn failures_become_records_or_errors() {
    let emit = r#"{"version": 1, "nodes": [
        {"id": "hp", "type": "HighPass", "config": {"cutoff_hz": 5000}}],
        "options": {"on_error": "emit"}}"#;
    let mut running = plan(emit).start();
    let out = RUNTIME
        .block_on(running.run_all(ramp_frames(3, 80, 8000)))
        .expect("emit mode does not fail");
    assert_eq!(out.len(), 3);
    for v in &out {
        match v {
            Value::Error(record) => {
                assert_eq!(record.node, "hp");
                assert_eq!(record.error_type, "ValueError");
                assert!(record.message.contains("cutoff_hz"));
                assert!(record.input_summary.starts_with("AudioFrame(1ch, 8000 Hz"));
            }
            other => panic!("expected a record, got {other:?}"),
        }
    }
    let raise = emit.replace("emit", "raise");
    let mut running = plan(&raise).start();
    let err = RUNTIME
        .block_on(running.run_all(ramp_frames(100, 80, 8000)))
        .expect_err("raise mode fails");
    assert!(matches!(err, _runtime::Error::Node(ref r) if r.node == "hp"));
}

#[test]
fn bounded_queues_apply_backpressure_and_cancel_stops() {
    let json = r#"{"version": 1, "nodes": [{"id": "g", "type": "Gain", "config": {"db": -6}}],
        "options": {"queue_size": 1}}"#;
    let mut running = plan(json).start();
    let tx = running.input.take().expect("input");
    let mut sent = 0;
    for v in ramp_frames(100, 10, 8000) {
        if tx.try_send(v).is_err() {
            break;
        }
        sent += 1;
    }
    // Input queue, stage and output queue hold a handful of frames at most.
    assert!((1..10).contains(&sent), "sent {sent}");
    RUNTIME.block_on(async {
        match _runtime::executor::recv(&mut running.output, None).await {
            Next::Value(v) => assert_eq!(audio(&v).frames(), 10),
            _ => panic!("expected an output"),
        }
    });
    running.control.cancel();
    RUNTIME.block_on(running.control.join());
    assert!(running.control.is_cancelled());
    drop(tx);
}

#[test]
fn empty_manifest_passes_inputs_through() {
    let mut running = plan(r#"{"version": 1, "nodes": []}"#).start();
    let out = RUNTIME
        .block_on(running.run_all(ramp_frames(4, 10, 8000)))
        .unwrap();
    assert_eq!(out.len(), 4);
}
