"""``KokoroTTS``: the Kokoro-82M speech synthesizer (the ``kokoro`` package)."""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from remotemedia.core.registry import register_node
from remotemedia.nodes.audio import check_number
from remotemedia.nodes.ml._extra import require
from remotemedia.nodes.ml.base import ModelNode
from remotemedia.nodes.ml.llm import split_sentences
from remotemedia.nodes.ml.loading import (
    ModelNotFoundError,
    cached_snapshot,
    fetch_command,
    hub_cache_dir,
    is_offline,
    resolve_model,
)
from remotemedia.nodes.ml.tts import SpeechChunker, speech_text

__all__ = ["KokoroTTS", "KOKORO_RATE"]

logger = logging.getLogger(__name__)

#: Kokoro's output sample rate.
KOKORO_RATE = 24000
_REPO = "hexgrad/Kokoro-82M"
# Languages whose grapheme-to-phoneme step needs a spaCy English model (misaki).
_SPACY_LANGS = {"a": "en_core_web_sm", "b": "en_core_web_sm"}
_LANGS = "abefhijpz"


@register_node
class KokoroTTS(ModelNode):
    """Speaks text with Kokoro-82M (Apache-2.0, 24 kHz, many voices).

    Text is split into sentences; each is synthesized and emitted at once as
    AudioFrames of ``chunk_s`` seconds on a clock that runs across inputs. An
    interruption stops synthesis before the next sentence or chunk.

    The model folder holds ``config.json``, the weights (``*.pth``) and
    ``voices/<voice>.pt``: the Hugging Face repository ``hexgrad/Kokoro-82M``
    (cached, or fetched with ``hf download hexgrad/Kokoro-82M config.json
    kokoro-v1_0.pth voices/af_heart.pt``) or a local folder. English (``lang``
    "a"/"b") also needs spaCy's ``en_core_web_sm``; the espeak-ng languages
    (e, f, h, i, p) need nothing else.

    Example:
        >>> rm.Pipeline([nodes.KokoroTTS(voice="af_heart", lang="a")]).collect(["Hi!"])

    Args:
        voice: Voice name (a file ``voices/<voice>.pt`` in the model folder).
        lang: Kokoro language code: "a" American English, "b" British English,
            "e" Spanish, "f" French, "h" Hindi, "i" Italian, "p" Portuguese,
            "j" Japanese, "z" Chinese.
        speed: Speaking rate (1.0 normal).
        model: ``hexgrad/Kokoro-82M`` or a local folder with the same files.
        chunk_s: Length of the emitted frames in seconds.
        device: "auto" (cuda > mps > cpu), "cpu", "mps", "cuda" or "cuda:N".

    Raises:
        ValueError: If ``lang``, ``speed`` or ``chunk_s`` is invalid.
    """

    purpose = "Kokoro speech model"

    def __init__(
        self,
        voice: str = "af_heart",
        lang: str = "a",
        speed: float = 1.0,
        model: str = _REPO,
        chunk_s: float = 0.5,
        device: str = "auto",
        name: str | None = None,
    ) -> None:
        super().__init__(model, device=device, dtype=None, name=name)
        if not isinstance(lang, str) or len(lang) != 1 or lang not in _LANGS:
            raise ValueError(
                f"KokoroTTS: lang must be one of {', '.join(_LANGS)}, got {lang!r}"
            )
        if not isinstance(voice, str) or not voice:
            raise ValueError(f"KokoroTTS: voice must be a voice name, got {voice!r}")
        check_number("KokoroTTS", "speed", speed, positive=True)
        check_number("KokoroTTS", "chunk_s", chunk_s, positive=True)
        self.voice = voice
        self.lang = lang
        self.speed = float(speed)
        self.chunk_s = float(chunk_s)
        self._chunker = SpeechChunker(self.chunk_s)
        self._voice_path = ""

    def required_files(self) -> list[str]:
        """The model files this node reads (relative to the model folder)."""
        weights = "kokoro-v1_0.pth" if self.model == _REPO else "*.pth"
        return ["config.json", weights, f"voices/{self.voice}.pt"]

    def resolve(self) -> str:
        """The model folder, checked for every file before anything loads."""
        if importlib.util.find_spec("kokoro") is None:  # cheap: no import yet
            require("kokoro", extra="kokoro")
        spacy_model = _SPACY_LANGS.get(self.lang)
        if spacy_model and importlib.util.find_spec(spacy_model) is None:
            raise ModelNotFoundError(
                spacy_model,
                f"KokoroTTS lang={self.lang!r} needs the spaCy model {spacy_model} "
                "for English phonemes, which is not installed (the kokoro package "
                "would try to download it). Install it with `python -m spacy "
                f"download {spacy_model}`, or use an espeak-ng language (lang='e', "
                "'f', 'h', 'i' or 'p').",
            )
        files = self.required_files()
        local = Path(self.model).expanduser()
        if local.is_dir():
            folder = str(local)
        else:
            folder = cached_snapshot(self.model) or ""
            if not folder and not is_offline():
                folder = resolve_model(
                    self.model, what="KokoroTTS model", allow_patterns=files
                )
        missing = [f for f in files if not folder or not list(Path(folder).glob(f))]
        if missing:
            where = folder or f"the Hugging Face cache {hub_cache_dir()}"
            raise ModelNotFoundError(
                self.model,
                f"KokoroTTS: {', '.join(missing)} of {self.model!r} not found in "
                f"{where}. Fetch them with `{fetch_command(self.model)} "
                f"{' '.join(missing)}` or pass a local folder as model=.",
            )
        return folder

    def load(self, path: str, device: str, dtype: Any) -> Any:
        kokoro = require("kokoro", extra="kokoro")
        folder = Path(path)
        weights = sorted(folder.glob("*.pth"))[0]
        model = kokoro.KModel(
            repo_id=_REPO, config=str(folder / "config.json"), model=str(weights)
        )
        pipeline = kokoro.KPipeline(
            lang_code=self.lang, repo_id=_REPO, model=model.to(device).eval()
        )
        self._voice_path = str(folder / "voices" / f"{self.voice}.pt")
        pipeline.load_voice(self._voice_path)
        return pipeline

    def stream(self, data: Any) -> Iterator[Any]:
        sentences, rest = split_sentences(speech_text(self, data))
        if rest.strip():
            sentences.append(rest.strip())
        for sentence in sentences:
            if self.interrupted:
                return
            for result in self.loaded(
                sentence, voice=self._voice_path, speed=self.speed
            ):
                if result.audio is None:
                    continue
                audio = result.audio.detach().float().cpu().numpy()
                for frame in self._chunker.frames(audio, KOKORO_RATE):
                    if self.interrupted:
                        return
                    yield frame

    def flush(self) -> Any:
        self._chunker = SpeechChunker(self.chunk_s)
        return None
