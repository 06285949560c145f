"""Notebook widgets: the pipeline editor, live displays and progress bars.

Everything here is plain ipywidgets (no front-end code of its own), so it works in
JupyterLab, Notebook 7, VS Code and Colab alike.

Example:
    >>> import remotemedia as rm
    >>> editor = rm.widgets.PipelineEditor()
    >>> editor.add("Gain", db=-3).add("MelSpectrogram")
    PipelineEditor(Gain -> MelSpectrogram)
    >>> print(editor.to_code())     # the same pipeline as Python source
    import remotemedia as rm
    from remotemedia import nodes
    <BLANKLINE>
    pipeline = rm.Pipeline(
        [
            nodes.Gain(db=-3.0),
            nodes.MelSpectrogram(),
        ],
        name="editor",
    )
    <BLANKLINE>

    Displayed as a cell's last value, ``editor`` is the editor UI (press Run).
"""

from __future__ import annotations

import ast
import html
import logging
import re
import time
from pathlib import Path
from typing import Any

import numpy as np

from remotemedia.core.errors import PipelineError, RemoteMediaError
from remotemedia.core.frames import AudioFrame, VideoFrame
from remotemedia.core.kinds import join_stream, order_problem
from remotemedia.core.node import Node, Source
from remotemedia.core.pipeline import Pipeline
from remotemedia.core.registry import NodeInfo, ParamInfo, list_nodes, node_info
from remotemedia.notebook.live import LiveSpectrogram, LiveWaveform
from remotemedia.notebook.microphone import Microphone as Microphone  # noqa: F401
from remotemedia.notebook.progress import Progress, loading, progress

try:
    import ipywidgets as w
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "remotemedia.widgets needs ipywidgets: pip install 'remotemedia[notebook]'"
    ) from exc

__all__ = [
    "PipelineEditor",
    "LiveSpectrogram",
    "LiveWaveform",
    "Progress",
    "progress",
    "loading",
    "generate_signal",
]

logger = logging.getLogger(__name__)

SIGNALS = ("tone", "noise", "chirp")
_VIDEO_SUFFIXES = {".mp4", ".mkv", ".webm", ".mov", ".avi"}
_MAX_SHOWN = 3
_UNSET: Any = object()


# -- inputs -------------------------------------------------------------------------
def generate_signal(
    kind: str = "tone",
    duration_s: float = 1.0,
    sample_rate: int = 16000,
    frame_ms: float = 20.0,
) -> list[AudioFrame]:
    """A generated mono test signal, cut into frames.

    Args:
        kind: "tone" (440 Hz sine), "noise" (seeded white noise) or "chirp"
            (100 Hz to sample_rate/4, linear sweep).
        duration_s: Length in seconds.
        sample_rate: Sample rate in Hz.
        frame_ms: Frame length in milliseconds.

    Raises:
        ValueError: On an unknown kind or a non-positive duration or rate.
    """
    if kind not in SIGNALS:
        raise ValueError(
            f"generate_signal: kind must be one of {SIGNALS}, got {kind!r}"
        )
    if not duration_s > 0 or sample_rate <= 0:
        raise ValueError(
            f"generate_signal: duration_s and sample_rate must be > 0, "
            f"got {duration_s} and {sample_rate}"
        )
    t = np.arange(int(duration_s * sample_rate)) / sample_rate
    if kind == "tone":
        samples = 0.5 * np.sin(2 * np.pi * 440.0 * t)
    elif kind == "noise":
        samples = 0.1 * np.random.default_rng(0).standard_normal(t.size)
    else:
        f0, f1 = 100.0, sample_rate / 4
        phase = 2 * np.pi * (f0 * t + (f1 - f0) * t**2 / (2 * duration_s))
        samples = 0.5 * np.sin(phase)
    frame = AudioFrame(samples.astype(np.float32)[None, :], sample_rate)
    return list(frame.chunks(frame_ms))


# -- parameter parsing ------------------------------------------------------------
def _base_type(type_text: str) -> tuple[str, bool]:
    """The type text without its ``None`` option, and whether None is allowed."""
    text = type_text.strip()
    optional = False
    match = re.fullmatch(r"Optional\[(.*)\]", text)
    if match:
        text, optional = match.group(1), True
    parts = [p.strip() for p in text.split("|")]
    if "None" in parts:
        optional = True
        parts = [p for p in parts if p != "None"]
    return " | ".join(parts), optional


def _kind(param: ParamInfo) -> tuple[str, bool]:
    base, optional = _base_type(param.type)
    if param.default is None and not param.required:
        optional = True
    if param.choices:
        return "choice", optional
    if base in ("float", "int", "bool", "str"):
        return base, optional
    if base in ("int | float", "float | int"):
        return "float", optional
    return "expr", optional


class _ExprValue:
    """A parameter given as a name from the user namespace (emitted as that name)."""

    def __init__(self, source: str, value: Any) -> None:
        self.source = source
        self.value = value


class _ParamControl:
    """One parameter's control, its parsed value and its error label."""

    def __init__(
        self, param: ParamInfo, value: Any, namespace: dict[str, Any], on_change: Any
    ) -> None:
        self.param = param
        self.namespace = namespace
        self.kind, self.optional = _kind(param)
        self.error = w.HTML("", layout=w.Layout(margin="0 0 0 8px"))
        # A value that has no literal form (a function given to Lambda, say) is kept
        # as is and shown by its variable name.
        self._opaque: _ExprValue | None = None
        if self.kind == "expr" and value is not _UNSET and not _is_literal(value):
            self._opaque = _ExprValue(_name_for(value, namespace), value)
            value = self._opaque
        # A value given from code that the control cannot hold (db="loud" for a
        # number box): the control shows the default and this message until edited.
        self._bad = ""
        self.widget = self._make(value)
        self.value: Any = _UNSET
        self.parse()
        self.widget.observe(lambda _: self._edited(on_change), names="value")
        label = w.Label(param.name, layout=w.Layout(width="130px"))
        label.tooltip = param.doc
        self.widget.tooltip = param.doc or param.type
        self.box = w.HBox([label, self.widget, self.error])

    def _edited(self, on_change: Any) -> None:
        self._bad = ""
        on_change(self)

    def _refuse(self, value: Any, why: str) -> Any:
        """Records that ``value`` does not fit the control; returns the default."""
        self._bad = f"{why}: {value!r}"
        default = self.param.default
        return None if self.param.required else default

    def _make(self, value: Any) -> Any:
        param, kind = self.param, self.kind
        layout = w.Layout(width="180px")
        if value is _UNSET:
            value = None if param.required else param.default
        elif kind == "choice" and value not in param.choices:
            if not (value is None and self.optional):
                choices = ", ".join(repr(c) for c in param.choices)
                value = self._refuse(value, f"not one of {choices}")
        elif kind == "bool" and not isinstance(value, (bool, np.bool_)):
            value = self._refuse(value, "not True or False")
        elif kind in ("float", "int") and value is not None:
            number = isinstance(value, (int, float, np.integer, np.floating))
            if not number or isinstance(value, bool):
                value = self._refuse(
                    value, "not a number" if kind == "float" else "not an integer"
                )
            elif kind == "int" and int(value) != value:
                value = self._refuse(value, "not an integer")
        if kind == "choice":
            if value not in param.choices and not (value is None and self.optional):
                value = param.choices[0]
            options = [
                (repr(c) if not isinstance(c, str) else c, c) for c in param.choices
            ]
            if self.optional:
                options.insert(0, ("(none)", None))
            return w.Dropdown(options=options, value=value, layout=layout)
        if kind == "bool":
            return w.Checkbox(
                value=bool(value), indent=False, layout=w.Layout(width="180px")
            )
        if kind in ("float", "int") and value is not None and not self.optional:
            cls = w.FloatText if kind == "float" else w.IntText
            return cls(value=value, layout=layout)
        text = "" if value is None else _text_of(value)
        placeholder = (
            "required" if param.required else "(none)" if self.optional else ""
        )
        return w.Text(value=text, placeholder=placeholder, layout=layout)

    def set(self, value: Any) -> None:
        """Sets the control from a Python value (the observer re-parses it)."""
        if isinstance(self.widget, w.Text):
            self.widget.value = "" if value is None else _text_of(value)
        else:
            self.widget.value = value

    def parse(self) -> bool:
        """Parses the control into :attr:`value`; shows and returns False on error."""
        if self._bad:
            self.value = _UNSET
            self.show_error(self._bad)
            return False
        raw = self.widget.value
        try:
            self.value = self._parse(raw)
        except ValueError as exc:
            self.value = _UNSET
            self.show_error(str(exc))
            return False
        self.show_error("")
        return True

    def _parse(self, raw: Any) -> Any:
        if not isinstance(self.widget, w.Text):
            return raw
        text = raw.strip()
        if not text:
            if self.optional:
                return None
            if self.param.required:
                raise ValueError("required")
            if self.kind == "str":
                return ""
            raise ValueError("a value is needed")
        if self.kind == "str":
            return raw
        if self.kind == "int":
            try:
                return int(text)
            except ValueError:
                raise ValueError(f"not an integer: {text!r}") from None
        if self.kind == "float":
            try:
                return float(text)
            except ValueError:
                raise ValueError(f"not a number: {text!r}") from None
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            pass
        if self._opaque is not None and text == self._opaque.source:
            return self._opaque
        if text.isidentifier() and text in self.namespace:
            return _ExprValue(text, self.namespace[text])
        raise ValueError(f"not a Python literal or a notebook variable: {text!r}")

    def show_error(self, message: str) -> None:
        self.error.value = (
            f"<span style='color:#c62828'>{html.escape(message)}</span>"
            if message
            else ""
        )

    @property
    def error_text(self) -> str:
        match = re.search(r">(.*)</span>", self.error.value)
        return html.unescape(match.group(1)) if match else ""


def _is_literal(value: Any) -> bool:
    try:
        return bool(ast.literal_eval(repr(value)) == value)
    except (ValueError, SyntaxError, TypeError):
        return False


def _name_for(value: Any, namespace: dict[str, Any]) -> str:
    """The notebook variable that holds ``value``, else the value's own name."""
    for name, candidate in namespace.items():
        if candidate is value and not name.startswith("_"):
            return name
    return str(getattr(value, "__name__", type(value).__name__))


def _text_of(value: Any) -> str:
    if isinstance(value, _ExprValue):
        return value.source
    if isinstance(value, (str, Path)):
        return str(value)
    return repr(value)


class _NodeRow:
    """One node of the editor: type, parameter controls, local/remote flag."""

    def __init__(
        self,
        editor: PipelineEditor,
        info: NodeInfo,
        values: dict[str, Any],
        remote: bool = False,
    ) -> None:
        self.editor = editor
        self.info = info
        self.controls = {
            p.name: _ParamControl(
                p, values.get(p.name, _UNSET), editor.namespace, self._changed
            )
            for p in info.parameters
        }
        self.error = w.HTML("")
        self.remote = w.Checkbox(
            value=remote,
            description="remote",
            indent=False,
            layout=w.Layout(width="90px"),
        )
        self.title = w.HTML()
        buttons = []
        for icon, tip, action in (
            ("arrow-up", "move up", lambda _: editor.move(self.index, -1)),
            ("arrow-down", "move down", lambda _: editor.move(self.index, 1)),
            ("trash", "remove", lambda _: editor.remove(self.index)),
        ):
            button = w.Button(icon=icon, tooltip=tip, layout=w.Layout(width="36px"))
            button.on_click(action)
            buttons.append(button)
        header = w.HBox([self.title, self.remote, *buttons])
        self.box = w.VBox(
            [header, *(c.box for c in self.controls.values()), self.error],
            layout=w.Layout(border="1px solid #ddd", padding="4px", margin="2px 0"),
        )
        self.validate()

    @property
    def index(self) -> int:
        return self.editor._rows.index(self)

    def refresh_title(self) -> None:
        self.title.value = (
            f"<b>{self.index + 1}. {html.escape(self.info.name)}</b> "
            f"<span style='color:#666'>{html.escape(self.info.summary)}</span>"
        )
        self.title.layout.width = "520px"

    def _changed(self, control: _ParamControl) -> None:
        if control.parse():
            self.validate()

    def kwargs(self) -> dict[str, Any]:
        """Parsed parameters (raises ValueError naming a bad one)."""
        out: dict[str, Any] = {}
        for name, control in self.controls.items():
            if control.value is _UNSET:
                raise ValueError(
                    f"{self.info.name}: {name}: {control.error_text or 'invalid'}"
                )
            value = control.value
            out[name] = value.value if isinstance(value, _ExprValue) else value
        return out

    def build(self) -> Node:
        """The configured node (remote-wrapped when marked remote)."""
        node = self.info.cls(**self.kwargs())
        if self.remote.value:
            from remotemedia.remote import remote

            return remote(node)
        return node

    def validate(self) -> bool:
        """Builds the node locally to check its parameters; shows errors by field."""
        self.error.value = ""
        if any(c.value is _UNSET for c in self.controls.values()):
            return False
        try:
            node = self.info.cls(**self.kwargs())
        except Exception as exc:  # noqa: BLE001 - shown next to the field at fault
            message = str(exc)
            for name, control in self.controls.items():
                if re.search(rf"\b{re.escape(name)}\b", message):
                    control.show_error(message)
                    return False
            self.error.value = (
                f"<span style='color:#c62828'>{html.escape(message)}</span>"
            )
            return False
        # Sources open files only when they run; nothing to release here.
        del node
        for control in self.controls.values():
            control.show_error("")
        return True

    def code(self) -> str:
        self.kwargs()  # raises on a missing or invalid parameter
        parts = []
        for name, control in self.controls.items():
            param = control.param
            value = control.value
            if not param.required and not isinstance(value, _ExprValue):
                if value == param.default and type(value) is type(param.default):
                    continue
            if isinstance(value, _ExprValue):
                if not (
                    value.source.isidentifier()
                    and self.editor.namespace.get(value.source) is value.value
                ):
                    raise ValueError(
                        f"{self.info.name}: parameter '{name}' holds "
                        f"{_describe(value.value)}, which no notebook variable "
                        f"names, so it cannot be written as code; assign it to a "
                        f"variable (my_{name} = ...) and set {name}=my_{name}"
                    )
                text = value.source
            elif isinstance(value, Path):
                text = repr(str(value))
            else:
                text = repr(value)
            parts.append(f"{name}={text}")
        module = self.info.cls.__module__
        prefix = "nodes." if module.startswith("remotemedia.nodes") else ""
        call = f"{prefix}{self.info.cls.__name__}({', '.join(parts)})"
        return f"rm.remote({call})" if self.remote.value else call


class PipelineEditor:
    """An editor for pipelines: pick nodes, set their parameters, run, export code.

    Node types and their parameters come from the registry (``rm.list_nodes()``):
    each typed parameter gets a matching control, and a bad value shows an error next
    to its control. Nodes can be reordered, removed and marked to run remotely (on
    the embedded server, or the session of ``rm.remote``). The input is a generated
    test signal, an audio/video file, or a variable of the notebook.

    Args:
        pipeline: A pipeline to start from (its nodes and parameters are loaded).
        namespace: Where variable inputs and parameters are looked up (default:
            the IPython user namespace, else an empty dict).

    Example:
        >>> import remotemedia as rm
        >>> editor = rm.widgets.PipelineEditor()
        >>> editor.add("Gain", db=-3).add("MelSpectrogram", n_mels=40)
        PipelineEditor(Gain -> MelSpectrogram)
        >>> outputs = editor.run()     # one second of a 440 Hz tone by default
        >>> outputs[0].values.shape[0]
        40
        >>> editor.pipeline            # the Pipeline
        Pipeline('editor': Gain(db=-3.0) -> MelSpectrogram(n_mels=40, ...))
        >>> editor.add("Gain")         # a node in an impossible order is refused
        Traceback (most recent call last):
        ...
        ValueError: cannot add Gain here: Gain takes audio, but MelSpectrogram before it emits spectrogram
    """

    def __init__(
        self, pipeline: Pipeline | None = None, namespace: dict[str, Any] | None = None
    ) -> None:
        self.namespace = namespace if namespace is not None else _user_namespace()
        self.catalog: dict[str, NodeInfo] = {
            info.name: info for info in list_nodes() if not _is_internal(info)
        }
        self._rows: list[_NodeRow] = []
        self.outputs: list[Any] = []
        self.last_pipeline: Pipeline | None = None
        self.last_error: str = ""
        self._build_ui()
        if pipeline is not None:
            for node in pipeline.nodes:
                self._add_node_instance(node)

    # -- UI -----------------------------------------------------------------------------
    def _build_ui(self) -> None:
        names = sorted(self.catalog)
        self.picker = w.Dropdown(
            options=names,
            value="Gain" if "Gain" in names else None,
            description="node",
            layout=w.Layout(width="260px"),
        )
        self.summary = w.HTML()
        self.add_button = w.Button(description="Add", icon="plus", button_style="info")
        self.add_button.on_click(lambda _: self._add_from_picker())
        self.picker.observe(lambda _: self._show_summary(), names="value")
        self._show_summary()
        self.nodes_box = w.VBox([])
        self.input_kind = w.ToggleButtons(
            options=["signal", "file", "variable"], value="signal", description="input"
        )
        self.signal = w.Dropdown(
            options=list(SIGNALS),
            value="tone",
            description="signal",
            layout=w.Layout(width="200px"),
        )
        self.duration = w.FloatText(
            value=1.0, description="seconds", layout=w.Layout(width="160px")
        )
        self.rate = w.IntText(
            value=16000, description="rate", layout=w.Layout(width="160px")
        )
        self.path = w.Text(
            value=str(_speech_path()),
            description="path",
            layout=w.Layout(width="520px"),
        )
        self.variable = w.Text(value="", description="variable", placeholder="name")
        self.whole = w.Checkbox(
            value=True, indent=False, description="join the input into one frame"
        )
        self.whole.tooltip = (
            "each node gets the whole clip as one frame; off: the input streams "
            "frame by frame, as in Pipeline.collect"
        )
        self.input_box = w.HBox([])
        self.input_kind.observe(lambda _: self._show_input(), names="value")
        self._show_input()
        self.run_button = w.Button(
            description="Run", icon="play", button_style="success"
        )
        self.run_button.on_click(lambda _: self.run())
        self.status = w.HTML()
        self.stats_html = w.HTML()
        self.output = w.Output(layout=w.Layout(border="1px solid #eee"))
        self.widget = w.VBox(
            [
                w.HBox([self.picker, self.add_button, self.summary]),
                self.nodes_box,
                self.input_kind,
                self.input_box,
                self.whole,
                w.HBox([self.run_button, self.status]),
                self.stats_html,
                self.output,
            ]
        )
        self.widget.add_class("rm-pipeline-editor")

    def _show_summary(self) -> None:
        info = self.catalog.get(self.picker.value or "")
        self.summary.value = html.escape(info.summary) if info else ""

    def _show_input(self) -> None:
        kind = self.input_kind.value
        children = {
            "signal": [self.signal, self.duration, self.rate],
            "file": [self.path],
            "variable": [self.variable],
        }[kind]
        self.input_box.children = children

    def _refresh(self) -> None:
        self.nodes_box.children = [row.box for row in self._rows]
        for row in self._rows:
            row.refresh_title()

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        # The widget view, with a short text form (the default one lists every
        # child widget and its value).
        bundle = self.widget._repr_mimebundle_(**kwargs)
        if isinstance(bundle, dict):
            bundle["text/plain"] = repr(self)
        return bundle

    def _add_from_picker(self) -> None:
        if self.picker.value:
            try:
                self.add(self.picker.value)
            except ValueError as exc:
                self.summary.value = _error_html(str(exc))

    def _order_problem(self, classes: list[type[Node]]) -> str | None:
        for index, cls in enumerate(classes):
            problem = order_problem(classes[:index], cls)
            if problem:
                return f"node {index + 1} ({cls.__name__}): {problem}"
        return None

    def _add_node_instance(self, node: Node) -> None:
        remote = bool(getattr(node, "is_remote", False))
        inner = getattr(node, "node", node) if remote else node
        info = node_info(type(inner))
        self.catalog.setdefault(info.name, info)
        self._rows.append(_NodeRow(self, info, inner.config, remote))
        self._refresh()

    # -- programmatic API ----------------------------------------------------------------
    def add(
        self, node_type: str, *, remote: bool = False, **params: Any
    ) -> PipelineEditor:
        """Appends a node of a registered type and returns the editor, for chaining.

        Args:
            node_type: Registry name, for example ``"Gain"``.
            remote: Run this node on the server.
            **params: Parameter values (others keep their defaults).

        Raises:
            ValueError: On an unknown node type or parameter name.
        """
        info = self.catalog.get(node_type)
        if info is None:
            raise ValueError(
                f"unknown node type {node_type!r}; known: {', '.join(sorted(self.catalog))}"
            )
        unknown = set(params) - {p.name for p in info.parameters}
        if unknown:
            raise ValueError(f"{node_type} has no parameter(s) {sorted(unknown)}")
        problem = order_problem([row.info.cls for row in self._rows], info.cls)
        if problem:
            raise ValueError(f"cannot add {node_type} here: {problem}")
        self._rows.append(_NodeRow(self, info, params, remote))
        self._refresh()
        return self

    def remove(self, index: int) -> None:
        """Removes the node at ``index`` (refused, with a message, when its
        neighbours cannot follow each other)."""
        order = self._rows[:index] + self._rows[index + 1 :]
        problem = self._order_problem([r.info.cls for r in order])
        if problem:
            self.status.value = _error_html(f"cannot remove: {problem}")
            return
        self._rows = order
        self._refresh()

    def move(self, index: int, offset: int) -> None:
        """Moves the node at ``index`` by ``offset`` places (clamped to the ends)."""
        target = min(max(index + offset, 0), len(self._rows) - 1)
        order = list(self._rows)
        order.insert(target, order.pop(index))
        problem = self._order_problem([r.info.cls for r in order])
        if problem:
            # Refused like a bad value: the message shows and nothing changes.
            self.status.value = _error_html(f"cannot move: {problem}")
            return
        self._rows = order
        self._refresh()

    def set_param(self, index: int, name: str, value: Any) -> str:
        """Sets a parameter as if typed in its control; returns its error ("" if ok).

        Strings are parsed like the text in the control; other values are set as is.

        Raises:
            KeyError: If the node has no such parameter.
        """
        row = self._rows[index]
        if name not in row.controls:
            raise KeyError(f"{row.info.name} has no parameter {name!r}")
        control = row.controls[name]
        if isinstance(control.widget, w.Text) and not isinstance(value, str):
            value = "" if value is None else _text_of(value)
        try:
            unchanged = control.widget.value == value
            control.widget.value = value
        except Exception:  # noqa: BLE001 - traitlets rejects wrong types
            # The control keeps its previous (valid) value, as it does in the UI.
            control.show_error(
                f"invalid {control.kind} value {value!r} (kept the old one)"
            )
            return control.error_text
        if unchanged and control._bad:
            control._edited(row._changed)  # no change event: re-check by hand
        return control.error_text

    def set_remote(self, index: int, remote: bool = True) -> None:
        """Marks the node at ``index`` to run remotely (or locally)."""
        self._rows[index].remote.value = remote

    def errors(self) -> dict[str, str]:
        """Current parameter errors as ``{"<index>.<param>": message}``."""
        out = {}
        for i, row in enumerate(self._rows):
            for name, control in row.controls.items():
                if control.error_text:
                    out[f"{i}.{name}"] = control.error_text
            match = re.search(r">(.*)</span>", row.error.value)
            if match:
                out[f"{i}"] = html.unescape(match.group(1))
        return out

    @property
    def node_names(self) -> list[str]:
        """Registry names of the nodes, in order."""
        return [row.info.name for row in self._rows]

    @property
    def pipeline(self) -> Pipeline:
        """A new :class:`Pipeline` of the configured nodes.

        Raises:
            ValueError: If a parameter is invalid (the message names it).
        """
        nodes = []
        for row in self._rows:
            try:
                nodes.append(row.build())
            except (ValueError, TypeError) as exc:
                raise ValueError(
                    f"node {row.index + 1} ({row.info.name}): {exc}"
                ) from None
        return Pipeline(nodes, name="editor")

    def to_code(self) -> str:
        """Python source that rebuilds :attr:`pipeline` (binds ``pipeline``).

        Values that are not literals are written as the notebook variable that
        holds them; a value no variable holds (a ``lambda`` typed into a call)
        cannot be written, and the error names the node and parameter.

        Raises:
            ValueError: If a parameter is missing, invalid or cannot be written as
                code (the message names the node and parameter).
        """
        lines = ["import remotemedia as rm", "from remotemedia import nodes", ""]
        imports = sorted(
            {
                f"from {row.info.cls.__module__} import {row.info.cls.__name__}"
                for row in self._rows
                if not row.info.cls.__module__.startswith("remotemedia.nodes")
                and row.info.cls.__module__ != "__main__"
            }
        )
        lines[2:2] = imports
        codes = []
        for row in self._rows:
            try:
                codes.append(row.code())
            except ValueError as exc:
                raise ValueError(
                    f"node {row.index + 1} cannot be written as code: {exc}"
                ) from None
        body = "".join(f"        {code},\n" for code in codes)
        lines.append(
            f'pipeline = rm.Pipeline(\n    [\n{body}    ],\n    name="editor",\n)'
        )
        return "\n".join(lines) + "\n"

    def input_frames(self) -> Any:
        """The chosen input: a list of frames, a Source, or the variable's value."""
        kind = self.input_kind.value
        if kind == "signal":
            return generate_signal(
                self.signal.value, self.duration.value, self.rate.value
            )
        if kind == "file":
            path = Path(self.path.value.strip()).expanduser()
            if not path.is_file():
                raise ValueError(f"input file not found: {path}")
            from remotemedia import nodes

            if path.suffix.lower() in _VIDEO_SUFFIXES:
                return nodes.VideoFileSource(str(path))
            return nodes.AudioFileSource(str(path))
        name = self.variable.value.strip()
        if name not in self.namespace:
            raise ValueError(f"no variable {name!r} in the notebook namespace")
        value = self.namespace[name]
        if isinstance(value, (AudioFrame, VideoFrame, str, Source)):
            return [value] if not isinstance(value, Source) else value
        return value

    def _inputs_for(self, pipeline: Pipeline) -> Any:
        if pipeline.nodes and isinstance(pipeline.nodes[0], Source):
            return None  # the first node produces the stream
        source = self.input_frames()
        if self.whole.value:
            frames = list(source)
            if frames and all(isinstance(f, AudioFrame) for f in frames):
                return [AudioFrame.concatenate(frames)]
            return frames
        return source

    def _collect(self, pipeline: Pipeline, inputs: Any) -> list[Any]:
        """Runs ``pipeline``; in whole-clip mode node by node, each node's stream
        of frames joined (as ``Pipeline.run`` joins them) before the next node,
        so a resampler's tail does not split the clip for the next node."""
        if not self.whole.value or inputs is None:
            return pipeline.collect(inputs)
        items = list(inputs)
        for node in pipeline.nodes:
            items = join_stream(
                Pipeline([node], name=pipeline.name).collect(items), [node]
            )
        return items

    def run(self) -> list[Any]:
        """Runs the pipeline on the chosen input and shows outputs and timings.

        Errors are shown in the editor (and kept in :attr:`last_error`) rather
        than raised.

        Returns:
            The outputs (an empty list after an error).
        """
        self.outputs = []
        self.last_error = ""
        self.output.outputs = ()  # not clear_output(): that needs a front end
        self.stats_html.value = ""
        self.status.value = "running..."
        started = time.perf_counter()
        try:
            if not self._rows:
                raise ValueError("add a node first")
            pipeline = self.pipeline
            self.last_pipeline = pipeline
            self.outputs = self._collect(pipeline, self._inputs_for(pipeline))
        except (RemoteMediaError, ValueError, TypeError, OSError) as exc:
            if isinstance(exc, PipelineError):
                error = exc.node_error
                message = (
                    f"node '{error.node}' failed: {error.error_type}: {error.message}"
                )
            else:
                message = str(exc)
            self.last_error = message
            self.status.value = (
                f"<span style='color:#c62828'>{html.escape(message)}</span>"
            )
            return []
        elapsed = time.perf_counter() - started
        self.status.value = f"{len(self.outputs)} output(s) in {elapsed * 1000:.0f} ms"
        self.stats_html.value = _stats_table(pipeline)
        _show_outputs(self.output, self.outputs)
        return self.outputs

    def __repr__(self) -> str:
        return f"PipelineEditor({' -> '.join(self.node_names) or 'empty'})"


def _error_html(message: str) -> str:
    return f"<span style='color:#c62828'>{html.escape(message)}</span>"


def _describe(value: Any) -> str:
    name = getattr(value, "__name__", "")
    if name == "<lambda>":
        return "a lambda"
    return f"{type(value).__name__} {name}".strip() if name else repr(value)[:60]


def _user_namespace() -> dict[str, Any]:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover
        return {}
    shell = get_ipython()
    return shell.user_ns if shell is not None else {}


def _is_internal(info: NodeInfo) -> bool:
    # Nodes that only make sense wired by code (they take callables) stay out of
    # the picker unless a pipeline brings them in.
    return info.name in {"Lambda", "Tee", "TextTransform"}


def _speech_path() -> Path | str:
    try:
        from remotemedia import data

        return data.speech()
    except (ImportError, FileNotFoundError):  # pragma: no cover
        return ""


def _stats_table(pipeline: Pipeline) -> str:
    rows = []
    for node in pipeline.nodes:
        stats = node.stats
        if getattr(node, "is_remote", False):
            # Measured by the worker, sent at the end of the remote segment's stream.
            cells = (
                f"<td>remote</td><td>{stats.calls}</td>"
                f"<td>{stats.total_s * 1000:.1f}</td><td>{stats.mean_ms:.2f}</td>"
            )
        else:
            cells = (
                f"<td>local</td><td>{stats.calls}</td>"
                f"<td>{stats.total_s * 1000:.1f}</td><td>{stats.mean_ms:.2f}</td>"
            )
        rows.append(f"<tr><td>{html.escape(node.name)}</td>{cells}</tr>")
    return (
        "<table class='rm-stats'><thead><tr><th>node</th><th>where</th><th>calls</th>"
        "<th>total ms</th><th>mean ms</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


def _displayable(item: Any) -> Any:
    """What ``rm.show`` would display for ``item``, as an IPython display object."""
    from IPython.display import HTML, Image

    from remotemedia.notebook import display as rmd

    if isinstance(item, AudioFrame):
        return HTML(rmd.audio_html(item))
    if isinstance(item, (VideoFrame, Pipeline)) or rmd._is_spectrogram(item):
        return Image(data=rmd.to_png(item), format="png")
    if isinstance(item, str):
        return item
    return item


def _show_outputs(target: Any, outputs: list[Any]) -> None:
    """Appends the outputs to the Output widget ``target``.

    The outputs are set on the widget's model directly (not captured from the
    kernel's display messages), so they land in the editor whatever front end (or
    none) runs the kernel.
    """
    if not outputs:
        target.append_stdout("(no output)\n")
        return
    if len(outputs) > 1 and all(isinstance(o, AudioFrame) for o in outputs):
        if len({(o.sample_rate, o.channels) for o in outputs}) == 1:
            target.append_display_data(_displayable(AudioFrame.concatenate(outputs)))
            return
    if len(outputs) > _MAX_SHOWN:
        target.append_stdout(f"{len(outputs)} outputs; showing the last {_MAX_SHOWN}\n")
    for item in outputs[-_MAX_SHOWN:]:
        target.append_display_data(_displayable(item))
