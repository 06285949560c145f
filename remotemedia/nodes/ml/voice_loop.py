"""A spoken conversation as one pipeline: VAD -> speech to text -> LLM -> speech.

The VAD emits an :class:`~remotemedia.core.control.Interrupt` at every speech onset;
the pipeline routes it (see :mod:`remotemedia.core.control`): the reply still being
generated or synthesized stops, its queued audio is dropped, and the Interrupt reaches
the output so that a player drops what it has buffered. That is barge-in.
"""

from __future__ import annotations

import logging
from typing import Any

from remotemedia.core.node import Node
from remotemedia.core.pipeline import Pipeline

__all__ = ["voice_loop"]

logger = logging.getLogger(__name__)


def voice_loop(
    stt: Node,
    llm: Node,
    tts: Node | None = None,
    *,
    vad: Node | None = None,
    session: Any = None,
    name: str = "voice-loop",
) -> Pipeline:
    """Builds ``SileroVAD -> stt -> llm -> tts`` with barge-in.

    Args:
        stt: Speech to text on utterances (e.g. ``SpeechToText(model)``).
        llm: The replying model (e.g. ``TextGenerator(model, chunk="sentence")``:
            sentence pieces let speech start before the whole reply is written).
        tts: Text to speech; default :class:`~remotemedia.nodes.ml.OfflineTTS`.
        vad: The utterance finder; default ``SileroVAD(interrupts=True)``. A custom
            one should emit an Interrupt at speech onset for barge-in.
        session: A remote session: ``stt``, ``llm`` and ``tts`` then run there as
            one remote segment (the VAD stays local, next to the microphone).
        name: The pipeline's name.

    Returns:
        The pipeline: audio frames in; reply audio frames (and one
        :class:`~remotemedia.core.control.Interrupt` per user utterance) out.

    Raises:
        TypeError: If a stage is not a Node.

    Example:
        >>> loop = voice_loop(SpeechToText("openai/whisper-tiny"),
        ...                   TextGenerator("Qwen/Qwen3-0.6B", chunk="sentence"))
        >>> async for item in loop.stream(mic.frames()):
        ...     player.play(item)  # an Interrupt: drop what is buffered
    """
    if vad is None:
        from remotemedia.nodes.ml.silero import SileroVAD

        vad = SileroVAD(interrupts=True)
    if tts is None:
        from remotemedia.nodes.ml.offline_tts import OfflineTTS

        tts = OfflineTTS()
    for role, node in (("vad", vad), ("stt", stt), ("llm", llm), ("tts", tts)):
        if not isinstance(node, Node):
            raise TypeError(
                f"voice_loop: {role} must be a Node, got {type(node).__name__}"
            )
    heavy = [stt, llm, tts]
    if session is not None:
        from remotemedia.remote import remote

        heavy = [remote(node, session) for node in heavy]
    return Pipeline([vad, *heavy], name=name)
