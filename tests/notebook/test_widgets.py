"""Pipeline editor, live displays and progress helpers, with real nodes and signals."""

from __future__ import annotations

from typing import Any

import ipywidgets as w
import numpy as np
import pytest

import remotemedia as rm
from remotemedia import nodes
from remotemedia.notebook import widgets
from remotemedia.notebook.widgets import PipelineEditor


def editor(**kwargs: Any) -> PipelineEditor:
    ed = PipelineEditor(namespace=kwargs.pop("namespace", {}), **kwargs)
    ed.duration.value = 0.5
    return ed


def test_controls_follow_parameter_types() -> None:
    ed = editor().add("Resample", target_rate=16000).add("Normalize")
    ed.add("MelSpectrogram")
    resample, normalize, mel = ed._rows
    (stft,) = editor().add("STFT")._rows  # not after MelSpectrogram: it takes audio
    assert isinstance(resample.controls["target_rate"].widget, w.IntText)
    assert isinstance(resample.controls["quality"].widget, w.Dropdown)
    assert resample.controls["quality"].widget.options[0][1] == "HQ"
    assert isinstance(mel.controls["fmin"].widget, w.FloatText)
    assert isinstance(mel.controls["log"].widget, w.Checkbox)
    # Optional parameters accept an empty value (None).
    assert isinstance(mel.controls["fmax"].widget, w.Text)
    assert mel.controls["fmax"].value is None
    assert isinstance(stft.controls["window"].widget, w.Dropdown)
    assert normalize.controls["peak_db"].value is None
    assert ed.errors() == {}


def test_every_registered_node_gets_an_editor_row() -> None:
    catalog = editor().catalog
    for name in catalog:
        assert editor().add(name).node_names == [name]


def test_bad_parameters_show_an_error_next_to_the_control() -> None:
    ed = editor().add("HighPass")
    assert ed.errors() == {"0.cutoff_hz": "required"}
    assert ed.set_param(0, "cutoff_hz", "abc") == "not a number: 'abc'"
    message = ed.set_param(0, "cutoff_hz", "-5")
    assert "cutoff_hz" in message
    assert ed._rows[0].controls["cutoff_hz"].error.value  # shown in the UI
    with pytest.raises(ValueError, match="cutoff_hz"):
        ed.pipeline
    assert ed.run() == []
    assert "cutoff_hz" in ed.last_error and "cutoff_hz" in ed.status.value
    assert ed.set_param(0, "cutoff_hz", "200") == ""
    assert ed.errors() == {}
    assert ed.pipeline.nodes[0].config["cutoff_hz"] == 200.0


def test_run_shows_outputs_and_per_node_timings() -> None:
    ed = editor().add("Gain", db=-6).add("MelSpectrogram", n_mels=32)
    outputs = ed.run()
    assert ed.last_error == ""
    assert len(outputs) == 1
    spec = outputs[0]
    assert spec.values.shape[0] == 32
    assert "Gain" in ed.stats_html.value and "MelSpectrogram" in ed.stats_html.value
    assert "1 output(s)" in ed.status.value
    (shown,) = ed.output.outputs  # the spectrogram, as an image in the editor
    assert "image/png" in shown["data"]


def test_generated_inputs_and_variable_input() -> None:
    for kind in widgets.SIGNALS:
        frames = widgets.generate_signal(kind, duration_s=0.2, sample_rate=8000)
        assert sum(f.num_samples for f in frames) == 1600
        assert all(f.sample_rate == 8000 for f in frames)
    tone = rm.AudioFrame.concatenate(widgets.generate_signal("tone", 0.2, 8000))
    ed = editor(namespace={"my_clip": tone}).add("Gain", db=-6.0206)
    ed.input_kind.value = "variable"
    ed.variable.value = "my_clip"
    (out,) = ed.run()
    np.testing.assert_allclose(out.samples, tone.samples * 0.5, atol=1e-4)
    ed.variable.value = "missing_name"
    assert ed.run() == [] and "missing_name" in ed.last_error


def test_file_input_streams_frames_when_not_joined() -> None:
    ed = editor().add("Resample", target_rate=16000)
    ed.input_kind.value = "file"
    ed.whole.value = False
    outputs = ed.run()
    assert len(outputs) > 10
    assert all(o.sample_rate == 16000 for o in outputs)


def test_reorder_remove_and_to_code_round_trip() -> None:
    ed = editor().add("Gain", db=-3).add("HighPass", cutoff_hz=80).add("Normalize")
    ed.move(2, -2)
    assert ed.node_names == ["Normalize", "Gain", "HighPass"]
    ed.remove(0)
    assert ed.node_names == ["Gain", "HighPass"]
    ed.set_param(1, "order", 4)
    source = ed.to_code()
    namespace: dict[str, Any] = {}
    exec(source, namespace)  # noqa: S102 - the point of the test
    rebuilt = namespace["pipeline"]
    assert rebuilt.to_manifest()["nodes"] == ed.pipeline.to_manifest()["nodes"]
    assert "nodes.HighPass(cutoff_hz=80.0, order=4)" in source


def test_editor_loads_an_existing_pipeline() -> None:
    pipeline = rm.Pipeline([nodes.Gain(db=-1.5), nodes.LowPass(cutoff_hz=3000.0)])
    ed = editor(pipeline=pipeline)
    assert ed.node_names == ["Gain", "LowPass"]
    assert ed.pipeline.to_manifest()["nodes"] == pipeline.to_manifest()["nodes"]


def test_callable_parameters_come_from_the_notebook_namespace() -> None:
    def halve(frame: rm.AudioFrame) -> rm.AudioFrame:
        return frame.with_samples(frame.samples * 0.5)

    pipeline = rm.Pipeline([nodes.Lambda(halve)])
    ed = editor(pipeline=pipeline, namespace={"halve": halve})
    assert ed.errors() == {}
    assert "nodes.Lambda(fn=halve)" in ed.to_code()
    (out,) = ed.run()
    assert np.abs(out.samples).max() == pytest.approx(0.25, abs=1e-3)
    assert ed.set_param(0, "fn", "no_such_function").startswith("not a Python")


def test_remote_nodes_run_on_the_embedded_server() -> None:
    ed = editor().add("Gain", db=-6.0206, remote=True).add("Passthrough")
    assert "rm.remote(nodes.Gain(db=-6.0206))" in ed.to_code()
    (out,) = ed.run()
    assert ed.last_error == ""
    assert ed.last_pipeline is not None and ed.last_pipeline.nodes[0].is_remote
    tone = rm.AudioFrame.concatenate(widgets.generate_signal("tone", 0.5, 16000))
    np.testing.assert_allclose(out.samples, tone.samples * 0.5, atol=1e-4)
    assert "remote" in ed.stats_html.value


def test_unknown_types_and_parameters_are_rejected() -> None:
    ed = editor()
    with pytest.raises(ValueError, match="unknown node type"):
        ed.add("NoSuchNode")
    with pytest.raises(ValueError, match="no parameter"):
        ed.add("Gain", gain=2)
    ed.add("Gain")
    with pytest.raises(KeyError):
        ed.set_param(0, "nope", 1)
    assert "kept the old one" in ed.set_param(0, "db", "loud")
    assert ed.pipeline.nodes[0].config["db"] == 0.0


def test_live_spectrogram_is_a_bounded_passthrough_node() -> None:
    live = widgets.LiveSpectrogram(window_s=0.5, max_fps=1000, width=64, height=32)
    frames = widgets.generate_signal("chirp", duration_s=2.0, sample_rate=8000)
    outputs = rm.Pipeline([live]).collect(frames)
    assert outputs == frames  # passthrough
    assert live.buffer.size == 4000  # the rolling buffer holds window_s only
    assert live.frames_seen == len(frames)
    png = live.to_png()
    assert png.startswith(b"\x89PNG")
    image = live.widget
    assert isinstance(image, w.Image) and bytes(image.value).startswith(b"\x89PNG")


def test_live_views_limit_their_redraw_rate() -> None:
    live = widgets.LiveWaveform(window_s=1.0, max_fps=2, width=64, height=32)
    live.widget  # noqa: B018 - creates the widget so redraws are sent to it
    now = [0.0]
    live._clock = lambda: now[0]  # a stream of 100 frames, 10 ms apart
    frames = widgets.generate_signal("tone", duration_s=2.0, sample_rate=8000)
    assert len(frames) == 100
    for frame in frames:
        live.update(frame)
        now[0] += 0.01
    assert live.redraws == 2  # at 0.0 s and 0.5 s: 2 fps, not 100
    live.flush()  # the end of a stream always shows the final state
    assert live.redraws == 3 and bytes(live.widget.value) == live.to_png()
    live.flush()  # nothing new: no redraw
    assert live.redraws == 3
    with pytest.raises(TypeError):
        live.update("not audio")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_fps"):
        widgets.LiveWaveform(max_fps=0)


def test_progress_node_counts_frames() -> None:
    path = rm.data.speech()
    bar = widgets.Progress.for_file(path, frame_ms=20)
    assert bar.total and bar.total > 100
    pipeline = rm.Pipeline([nodes.AudioFileSource(str(path)), bar])
    outputs = pipeline.collect()
    assert bar.count == len(outputs)
    assert abs(bar.total - len(outputs)) <= 1
    with widgets.loading("warming up") as loading_bar:
        loading_bar.set_postfix_str("ok")
    assert list(widgets.progress(range(3))) == [0, 1, 2]


# -- robustness: values from code, code export, node order ------------------------------
def test_bad_values_from_code_become_messages_beside_the_controls() -> None:
    ed = editor().add("Gain", db="loud")  # no TraitError
    ed.add("Resample", target_rate=16000, quality="XQ")
    ed.add("MelSpectrogram", log="yes")
    assert ed.errors() == {
        "0.db": "not a number: 'loud'",
        "1.quality": "not one of 'HQ', 'VHQ', 'MQ': 'XQ'",
        "2.log": "not True or False: 'yes'",
    }
    assert "not a number" in ed._rows[0].controls["db"].error.value  # in the UI
    with pytest.raises(ValueError, match="db: not a number: 'loud'"):
        ed.pipeline
    assert ed.run() == [] and "db" in ed.last_error
    assert ed.set_param(0, "db", 0.0) == ""  # the value the control already shows
    assert ed.set_param(1, "quality", "VHQ") == ""
    assert ed.set_param(2, "log", True) == ""
    assert ed.errors() == {}
    assert ed.pipeline.nodes[1].config["quality"] == "VHQ"


def test_to_code_writes_runnable_code_or_names_the_node() -> None:
    def halve(frame: rm.AudioFrame) -> rm.AudioFrame:
        return frame.with_samples(frame.samples * 0.5)

    anonymous = rm.Pipeline([nodes.Gain(db=-1.0), nodes.Lambda(fn=lambda f: f)])
    with pytest.raises(ValueError) as info:
        editor(pipeline=anonymous).to_code()
    message = str(info.value)
    assert message.startswith("node 2 cannot be written as code: Lambda: parameter")
    assert "'fn' holds a lambda" in message and "assign it to a variable" in message
    named = editor(
        pipeline=rm.Pipeline([nodes.Lambda(fn=halve)]), namespace={"halve": halve}
    )
    source = named.to_code()
    namespace: dict[str, Any] = {"halve": halve}
    exec(source, namespace)  # noqa: S102 - runnable is the point
    tone = rm.AudioFrame(np.ones(160, dtype=np.float32), 16000)
    out = namespace["pipeline"].run(tone)
    np.testing.assert_allclose(out.samples, 0.5)


def test_nodes_in_an_impossible_order_are_refused_when_added() -> None:
    ed = editor().add("MelSpectrogram")
    with pytest.raises(ValueError) as info:
        ed.add("Gain")
    assert str(info.value) == (
        "cannot add Gain here: Gain takes audio, but MelSpectrogram before it emits "
        "spectrogram"
    )
    assert ed.node_names == ["MelSpectrogram"]
    ed.picker.value = "Gain"
    ed.add_button.click()  # the UI path: the message shows beside the picker
    assert ed.node_names == ["MelSpectrogram"]
    assert "Gain takes audio" in ed.summary.value
    ed.add("Passthrough")  # takes anything
    ok = editor().add("Gain").add("MelSpectrogram")
    ok.move(1, -1)  # MelSpectrogram before Gain: refused
    assert ok.node_names == ["Gain", "MelSpectrogram"]
    assert "cannot move" in ok.status.value
    video = editor().add("Resize", width=32, height=16)
    with pytest.raises(ValueError, match="Resample takes audio, but Resize"):
        video.add("Resample", target_rate=8000)


def test_whole_clip_mode_gives_one_spectrogram_after_a_resampler() -> None:
    ed = editor().add("Resample", target_rate=16000).add("MelSpectrogram", n_mels=32)
    ed.rate.value = 48000
    outputs = ed.run()
    assert ed.last_error == ""
    assert len(outputs) == 1 and outputs[0].values.shape[0] == 32
    ed.whole.value = False  # streamed frame by frame: one spectrogram per frame
    assert len(ed.run()) > 1
