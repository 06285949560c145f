"""Silero voice activity detection on the ONNX weights the ``silero-vad`` package ships.

The model runs with onnxruntime directly (no torch): each 32 ms window (512 samples
at 16 kHz, 256 at 8 kHz) goes through the recurrent network together with the 64
(32) samples before it, and the network's state carries on to the next window,
exactly as the package's own ``OnnxWrapper`` does. Nothing is downloaded.
"""

from __future__ import annotations

import importlib.util
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np

from remotemedia.core.control import Interrupt
from remotemedia.core.node import Node, Outputs
from remotemedia.core.registry import register_node
from remotemedia.nodes.audio import check_number
from remotemedia.nodes.ml._extra import require
from remotemedia.nodes.vad import EnergyVAD

__all__ = ["SileroVAD", "silero_model_path"]

logger = logging.getLogger(__name__)

_MODEL_FILE = "silero_vad.onnx"
_WINDOW_MS = 32.0  # the network's window: 512 samples at 16 kHz


def silero_model_path() -> Path:
    """The ONNX weights inside the installed ``silero-vad`` package.

    Raises:
        ImportError: If ``silero-vad`` is not installed (naming the extra).
        FileNotFoundError: If the package lacks the weights file.
    """
    # find_spec locates the package without importing it (its __init__ imports torch).
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or spec.origin is None:
        raise ImportError(
            "silero-vad is not installed; SileroVAD needs its weights: "
            "pip install 'remotemedia[ml]'"
        )
    path = Path(spec.origin).parent / "data" / _MODEL_FILE
    if not path.is_file():
        raise FileNotFoundError(
            f"SileroVAD: the silero-vad package has no {_MODEL_FILE} at {path}; "
            "reinstall it: pip install --force-reinstall silero-vad"
        )
    return path


@register_node
class SileroVAD(EnergyVAD):
    """Finds speech with the Silero network; emits each segment as one frame.

    Segments follow exactly the rules of :class:`~remotemedia.nodes.vad.EnergyVAD`
    (opening, hangover, pre-roll, minimum length, timestamps, flush, rate changes),
    on 32 ms windows; a window is speech when the network's probability is at
    least ``threshold``. The probability is computed on the mono mix, at 16 kHz or
    8 kHz; other rates are brought to 16 kHz per window (every n-th sample for
    multiples of 16 kHz, else linear interpolation) for the analysis only, and the
    segments keep the input's rate and channels.

    Args:
        threshold: Speech probability (0..1) at or above which a window is speech.
        min_silence_ms: Non-speech time that closes a segment, in milliseconds.
        min_speech_ms: Shortest speech span kept, in milliseconds.
        pre_roll_ms: Audio kept before the first speech window, in milliseconds.
        interrupts: Also emit an :class:`~remotemedia.core.control.Interrupt`
            (reason ``"speech"``) when a segment opens, before its audio: the
            barge-in signal of a voice loop.

    Raises:
        ValueError: If a parameter is out of range.
        ImportError: At the first frame, if onnxruntime or silero-vad is missing.

    Example:
        >>> import remotemedia as rm
        >>> from remotemedia import nodes
        >>> p = rm.Pipeline([nodes.AudioFileSource(rm.data.speech()), SileroVAD()])
        >>> segments = p.collect()
    """

    # Well under a millisecond per frame: a thread hop would cost more than the model.
    blocking = False

    def __init__(
        self,
        threshold: float = 0.5,
        min_silence_ms: float = 300.0,
        min_speech_ms: float = 250.0,
        pre_roll_ms: float = 30.0,
        interrupts: bool = False,
        name: str | None = None,
    ) -> None:
        Node.__init__(self, name=name)
        check_number("SileroVAD", "threshold", threshold, minimum=0.0)
        if threshold > 1.0:
            raise ValueError(
                f"SileroVAD: threshold must be a probability in [0, 1], got {threshold}"
            )
        check_number("SileroVAD", "min_silence_ms", min_silence_ms, minimum=0.0)
        check_number("SileroVAD", "min_speech_ms", min_speech_ms, minimum=0.0)
        check_number("SileroVAD", "pre_roll_ms", pre_roll_ms, minimum=0.0)
        self.threshold = float(threshold)
        self.min_silence_ms = float(min_silence_ms)
        self.interrupts = bool(interrupts)
        # EnergyVAD's segmentation reads these.
        self.threshold_db = 0.0
        self.window_ms = _WINDOW_MS
        self.min_speech_ms = float(min_speech_ms)
        self.hangover_ms = self.min_silence_ms
        self.pre_roll_ms = float(pre_roll_ms)
        self.hangover_windows = max(
            1, math.ceil(self.hangover_ms / self.window_ms - 1e-9)
        )
        self._session: Any = None
        self._reset()

    # -- model --------------------------------------------------------------------
    def initialize(self) -> None:
        """Loads the ONNX model (once; a few milliseconds)."""
        if self._session is not None:
            return
        ort = require("onnxruntime")
        options = ort.SessionOptions()
        # One window at a time: threads only add hand-over cost.
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        path = silero_model_path()
        self._session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        logger.debug("SileroVAD loaded %s", path)

    def model_info(self) -> dict[str, Any]:
        """What the node has loaded (for session status displays)."""
        return {"model": "silero-vad (onnx)", "device": "cpu", "dtype": "float32"}

    def _reset(self) -> None:
        super()._reset()
        self._state = np.zeros((2, 1, 128), dtype=np.float32)
        self._context: np.ndarray | None = None

    def _probabilities(self, mono16: np.ndarray, rate: int) -> np.ndarray:
        """Speech probability of each row of ``mono16`` (windows at ``rate``)."""
        if self._session is None:
            self.initialize()
        size = 64 if rate == 16000 else 32
        if self._context is None:
            self._context = np.zeros((1, size), dtype=np.float32)
        sr = np.array(rate, dtype=np.int64)
        probs = np.empty(len(mono16), dtype=np.float32)
        run = self._session.run
        for index, window in enumerate(mono16):
            x = np.concatenate([self._context, window[None, :]], axis=1)
            out, self._state = run(None, {"input": x, "state": self._state, "sr": sr})
            probs[index] = out[0, 0]
            self._context = x[:, -size:]
        return probs

    def _speech_windows(self, pending: np.ndarray, win: int) -> np.ndarray:
        count = pending.shape[1] // win
        if not count:
            return np.zeros(0, dtype=bool)
        used = pending[:, : count * win]
        mono = used[0] if used.shape[0] == 1 else used.mean(axis=0, dtype=np.float32)
        blocks = np.asarray(mono, dtype=np.float32).reshape(count, win)
        rate = self._rate
        if rate in (16000, 8000):
            analysed, net_rate = blocks, rate
        elif rate % 16000 == 0:
            analysed, net_rate = blocks[:, :: rate // 16000], 16000
        else:
            grid = np.linspace(0.0, win - 1, 512)
            analysed = np.stack(
                [np.interp(grid, np.arange(win), b) for b in blocks]
            ).astype(np.float32)
            net_rate = 16000
        return self._probabilities(np.ascontiguousarray(analysed), net_rate) >= (
            self.threshold
        )

    def _speech_started(self, begin: int, outputs: Outputs) -> None:
        if self.interrupts:
            outputs.append(Interrupt("speech", self._t0 + begin / self._rate))

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        # The onnxruntime session does not pickle: the copy loads its own.
        state["_session"] = None
        return state
