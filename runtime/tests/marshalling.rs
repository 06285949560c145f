//! Python <-> Rust marshalling with an embedded interpreter: data integrity of
//! frames, spectrograms and error records, and the error mapping to exceptions.

use std::sync::Once;

use _runtime::convert::{to_python, to_value};
use _runtime::error::{Error, NodeErrorRecord};
use _runtime::executor::{run_batch, Plan};
use _runtime::frame::{Audio, Spectrogram, SpectrogramKind, Value};
use _runtime::manifest;
use pyo3::prelude::*;
use pyo3::types::PyDict;

static INIT: Once = Once::new();

/// Starts Python with the project's interpreter paths (venv site-packages and the
/// repository root) so that numpy and remotemedia import.
fn python() {
    INIT.call_once(|| {
        let interpreter = option_env!("PYO3_PYTHON")
            .map(str::to_string)
            .unwrap_or_else(|| format!("{}/../.venv/bin/python", env!("CARGO_MANIFEST_DIR")));
        let out = std::process::Command::new(&interpreter)
            .args(["-c", "import json, sys; print(json.dumps(sys.path))"])
            .output()
            .expect("the project's Python runs");
        let paths: Vec<String> = serde_json::from_slice(&out.stdout).expect("sys.path JSON");
        Python::initialize();
        Python::attach(|py| {
            let sys_path = py.import("sys").unwrap().getattr("path").unwrap();
            let root = format!("{}/..", env!("CARGO_MANIFEST_DIR"));
            sys_path.call_method1("insert", (0, root)).unwrap();
            for p in paths {
                sys_path.call_method1("append", (p,)).unwrap();
            }
        });
    });
}

fn eval<'py>(py: Python<'py>, code: &str) -> Bound<'py, PyAny> {
    let globals = PyDict::new(py);
    let code = std::ffi::CString::new(code).unwrap();
    py.run(&code, Some(&globals), None).unwrap();
    globals
        .get_item("result")
        .unwrap()
        .expect("code sets result")
}

#[test]
fn audio_frames_round_trip_exactly() {
    python();
    Python::attach(|py| {
        let frame = eval(
            py,
            "import numpy as np, remotemedia as rm\n\
             x = np.random.default_rng(7).standard_normal((2, 1001)).astype(np.float32)\n\
             result = rm.AudioFrame(x, 44100, 1.25)",
        );
        let expected: Vec<f32> = frame
            .getattr("samples")
            .unwrap()
            .call_method0("ravel")
            .unwrap()
            .extract()
            .unwrap();
        let value = to_value(&frame).unwrap();
        let Value::Audio(audio) = &value else {
            panic!("not audio")
        };
        assert_eq!(
            (audio.channels(), audio.frames(), audio.rate),
            (2, 1001, 44100)
        );
        assert_eq!(audio.timestamp, 1.25);
        assert_eq!(audio.data(), expected.as_slice());
        // Unchanged frames go back as the same object.
        let back = to_python(py, value).unwrap();
        assert!(back.is(&frame));
        // Rust-made frames become AudioFrames with the same bits and metadata.
        let made = Audio::new(expected.clone(), 2, 44100, 0.5);
        let py_frame = to_python(py, Value::Audio(made)).unwrap();
        let again: Vec<f32> = py_frame
            .getattr("samples")
            .unwrap()
            .call_method0("ravel")
            .unwrap()
            .extract()
            .unwrap();
        assert_eq!(again, expected);
        let shape: (usize, usize) = py_frame
            .getattr("samples")
            .unwrap()
            .getattr("shape")
            .unwrap()
            .extract()
            .unwrap();
        assert_eq!(shape, (2, 1001));
        assert_eq!(
            py_frame
                .getattr("timestamp")
                .unwrap()
                .extract::<f64>()
                .unwrap(),
            0.5
        );
    });
}

#[test]
fn non_contiguous_samples_are_copied_correctly() {
    python();
    Python::attach(|py| {
        let frame = eval(
            py,
            "import numpy as np, remotemedia as rm\n\
             x = np.arange(40, dtype=np.float32).reshape(2, 20)[:, ::2]\n\
             result = rm.AudioFrame(x, 8000)",
        );
        let Value::Audio(audio) = to_value(&frame).unwrap() else {
            panic!()
        };
        let expect: Vec<f32> = (0..2)
            .flat_map(|c| (0..10).map(move |i| (c * 20 + 2 * i) as f32))
            .collect();
        assert_eq!(audio.data(), expect.as_slice());
    });
}

#[test]
fn spectrograms_and_records_convert() {
    python();
    Python::attach(|py| {
        let spec = Spectrogram {
            values: (0..12).map(|v| v as f32).collect(),
            bins: 3,
            frames: 4,
            sample_rate: 16000,
            hop_length: 128,
            n_fft: 512,
            kind: SpectrogramKind::Mel,
            db: true,
            timestamp: 2.0,
            fmin: Some(0.0),
            fmax: Some(8000.0),
        };
        let obj = to_python(py, Value::Spectrogram(spec)).unwrap();
        assert_eq!(obj.get_type().name().unwrap().to_string(), "Spectrogram");
        let values: Vec<Vec<f32>> = obj
            .getattr("values")
            .unwrap()
            .call_method0("tolist")
            .unwrap()
            .extract()
            .unwrap();
        assert_eq!(values[2], vec![8.0, 9.0, 10.0, 11.0]);
        assert_eq!(
            obj.getattr("kind").unwrap().extract::<String>().unwrap(),
            "mel"
        );
        assert!(obj.getattr("db").unwrap().extract::<bool>().unwrap());

        let record = NodeErrorRecord {
            node: "n".into(),
            error_type: "ValueError".into(),
            message: "bad".into(),
            input_summary: "x".into(),
            traceback: "tb".into(),
        };
        let py_record = to_python(py, Value::Error(Box::new(record.clone()))).unwrap();
        let Value::Error(back) = to_value(&py_record).unwrap() else {
            panic!()
        };
        assert_eq!(*back, record);
    });
}

#[test]
fn errors_map_to_the_python_exceptions() {
    python();
    Python::attach(|py| {
        let errors = py.import("remotemedia.core.errors").unwrap();
        let err: PyErr = Error::manifest("node 'x': bad").into();
        assert!(err.is_instance(
            py,
            &errors
                .getattr("ManifestError")
                .unwrap()
                .cast_into()
                .unwrap()
        ));
        let record = NodeErrorRecord {
            node: "g".into(),
            error_type: "TypeError".into(),
            message: "m".into(),
            input_summary: String::new(),
            traceback: String::new(),
        };
        let err: PyErr = Error::Node(Box::new(record)).into();
        let value = err.value(py);
        assert!(err.is_instance(
            py,
            &errors
                .getattr("PipelineError")
                .unwrap()
                .cast_into()
                .unwrap()
        ));
        let node: String = value
            .getattr("node_error")
            .unwrap()
            .getattr("node")
            .unwrap()
            .extract()
            .unwrap();
        assert_eq!(node, "g");
    });
}

#[test]
fn python_and_native_nodes_run_together() {
    python();
    Python::attach(|py| {
        eval(
            py,
            "import remotemedia as rm\n\
             @rm.register_node\n\
             class RsNegate(rm.Node):\n\
             \x20   def process(self, data):\n\
             \x20       return data.with_samples(-data.samples)\n\
             result = None",
        );
        let json = r#"{"version": 1, "nodes": [
            {"id": "g", "type": "Gain", "config": {"db": 20}},
            {"id": "n", "type": "RsNegate"},
            {"id": "c", "type": "ChannelMix", "config": {"channels": 2}}]}"#;
        let manifest = manifest::parse(json).unwrap();
        let plan = Plan::build(py, &manifest, None).unwrap();
        assert_eq!(
            plan.placements.iter().map(|p| p.native).collect::<Vec<_>>(),
            [true, false, true]
        );
        let input = Value::Audio(Audio::new(vec![0.01, -0.02, 0.03], 1, 8000, 0.0));
        let out = run_batch(py, plan, vec![input]).unwrap();
        let Value::Audio(a) = &out[0] else { panic!() };
        let g = 10f64.powf(1.0) as f32;
        let expect = [-0.01 * g, 0.02 * g, -0.03 * g];
        assert_eq!(a.channels(), 2);
        assert_eq!(a.channel(0), expect);
        assert_eq!(a.channel(1), expect);
    });
}
