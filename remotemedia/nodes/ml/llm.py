"""``TextGenerator``: a chat LLM that keeps the conversation and streams its reply."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterator
from typing import Any, Literal

from remotemedia.core.registry import register_node
from remotemedia.nodes.audio import check_number
from remotemedia.nodes.ml._extra import require
from remotemedia.nodes.ml.base import ModelNode
from remotemedia.nodes.ml.transcript import Transcript

__all__ = ["TextGenerator", "split_sentences"]

logger = logging.getLogger(__name__)

# A sentence ends at . ! ? (or their CJK forms) followed by white space, or at a newline.
_SENTENCE_END = re.compile(r"(?<=[.!?。！？])\s+|\n+")


def split_sentences(text: str) -> tuple[list[str], str]:
    """Splits ``text`` into complete sentences and the unfinished rest.

    Returns:
        ``(sentences, rest)``: the stripped, non-empty complete sentences and the
        text after the last sentence end.
    """
    parts = _SENTENCE_END.split(text)
    rest = parts.pop()
    return [p.strip() for p in parts if p.strip()], rest


def _prompt_text(data: Any) -> str | None:
    """The user's text in ``data``; None for a partial transcript (not a turn)."""
    if isinstance(data, Transcript):
        return data.text if data.final else None
    if isinstance(data, str):
        return data
    raise TypeError(
        f"TextGenerator expects text (str or Transcript), got {type(data).__name__}"
    )


@register_node
class TextGenerator(ModelNode):
    """A chat language model: each input is a user turn, the output is the reply.

    The conversation (``history``, a list of ``{"role", "content"}`` messages,
    starting with the system prompt when given) is node state, so each turn sees
    the ones before; :meth:`reset` starts over. The reply is streamed while it is
    generated (transformers' streamer, generation in a thread) in pieces set by
    ``chunk``: ``"token"`` (each decoded piece as it comes), ``"sentence"`` (whole
    sentences, for speech synthesis) or ``"reply"`` (the whole reply at once).
    Partial transcripts (``final=False``) are ignored.

    An interruption (barge-in) stops generation within one token; the part of the
    reply generated so far is kept in the history, so the model knows what it said.

    Example:
        >>> chat = TextGenerator("Qwen/Qwen3-0.6B", system_prompt="Answer briefly.",
        ...                      chunk="sentence")
        >>> rm.Pipeline([chat]).collect(["What is a pipeline?"])

    Args:
        model: A chat model id or folder (Qwen3 models are the documented default).
        system_prompt: Instructions put first in the conversation.
        max_new_tokens: Most tokens generated per reply.
        chunk: "token", "sentence" or "reply" (see above).
        temperature: Sampling temperature; 0 or None decodes greedily.
        thinking: Let models with a thinking mode (Qwen3) think first; off by default
            for quick spoken replies.
        device: "auto" (cuda > mps > cpu), "cpu", "mps", "cuda" or "cuda:N".
        dtype: None (float16 on CUDA, float32 elsewhere) or a dtype name.
    """

    purpose = "text generation model"

    def __init__(
        self,
        model: str = "Qwen/Qwen3-0.6B",
        system_prompt: str | None = None,
        max_new_tokens: int = 256,
        chunk: Literal["token", "sentence", "reply"] = "token",
        temperature: float | None = None,
        thinking: bool = False,
        device: str = "auto",
        dtype: Any = None,
        name: str | None = None,
    ) -> None:
        super().__init__(model, device=device, dtype=dtype, name=name)
        check_number(
            "TextGenerator",
            "max_new_tokens",
            max_new_tokens,
            positive=True,
            integer=True,
        )
        if chunk not in ("token", "sentence", "reply"):
            raise ValueError(
                f"TextGenerator: chunk must be 'token', 'sentence' or 'reply', got {chunk!r}"
            )
        if temperature is not None:
            check_number("TextGenerator", "temperature", temperature, minimum=0.0)
        self.system_prompt = system_prompt
        self.max_new_tokens = int(max_new_tokens)
        self.chunk = chunk
        self.temperature = temperature
        self.thinking = bool(thinking)
        self.history: list[dict[str, str]] = []
        self.reset()

    def reset(self) -> None:
        """Forgets the conversation (keeps the system prompt)."""
        self.history = (
            [{"role": "system", "content": self.system_prompt}]
            if self.system_prompt
            else []
        )

    def load(self, path: str, device: str, dtype: Any) -> Any:
        transformers = require("transformers")
        tokenizer = transformers.AutoTokenizer.from_pretrained(path)
        model = transformers.AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
        return tokenizer, model.to(device).eval()

    # -- generation -------------------------------------------------------------
    def _generate_kwargs(self, text: str, streamer: Any) -> dict[str, Any]:
        transformers = require("transformers")
        torch = require("torch")
        tokenizer, model = self.loaded
        self.history.append({"role": "user", "content": text})
        inputs = tokenizer.apply_chat_template(
            self.history,
            add_generation_prompt=True,
            return_tensors="pt",
            return_dict=True,
            enable_thinking=self.thinking,
        ).to(model.device)
        node = self

        class _Interrupted(transformers.StoppingCriteria):  # type: ignore[misc,name-defined]
            def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
                return torch.full(
                    (input_ids.shape[0],), node.interrupted, dtype=torch.bool
                )

        sample = bool(self.temperature)
        kwargs: dict[str, Any] = dict(
            **inputs,
            max_new_tokens=self.max_new_tokens,
            do_sample=sample,
            streamer=streamer,
            stopping_criteria=transformers.StoppingCriteriaList([_Interrupted()]),
            pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
        )
        if sample:
            kwargs["temperature"] = float(self.temperature or 1.0)
        else:
            # Greedy: drop the sampling defaults some checkpoints ship (no warnings).
            kwargs.update(temperature=None, top_p=None, top_k=None)
        return kwargs

    def _pieces(
        self, pieces: list[str], final: bool, state: dict[str, str]
    ) -> list[str]:
        """Turns decoded pieces into outputs of the configured ``chunk`` size."""
        state["reply"] += "".join(pieces)
        if self.chunk == "token":
            return [p for p in pieces if p]
        if self.chunk == "reply":
            return [state["reply"].strip()] if final and state["reply"].strip() else []
        state["pending"] += "".join(pieces)
        sentences, state["pending"] = split_sentences(state["pending"])
        if final and state["pending"].strip():
            sentences.append(state["pending"].strip())
            state["pending"] = ""
        return sentences

    def _finish(self, state: dict[str, str]) -> None:
        # Always an assistant turn, even empty or cut short: turns keep alternating.
        self.history.append({"role": "assistant", "content": state["reply"].strip()})

    def stream(self, data: Any) -> Iterator[str]:
        """Generates the reply to one turn, yielding its chunks as they come."""
        text = _prompt_text(data)
        if text is None:
            return
        transformers = require("transformers")
        tokenizer, model = self.loaded
        streamer = transformers.TextIteratorStreamer(
            tokenizer, skip_prompt=True, skip_special_tokens=True
        )
        kwargs = self._generate_kwargs(text, streamer)
        failure: list[BaseException] = []

        def run() -> None:
            try:
                model.generate(**kwargs)
            except BaseException as exc:  # noqa: BLE001 - re-raised by the reader
                failure.append(exc)
                streamer.end()  # wake the reader, which would wait forever

        thread = threading.Thread(target=run, name=f"rm-{self.name}-generate")
        thread.start()
        state = {"reply": "", "pending": ""}
        try:
            for piece in streamer:
                if self.interrupted:
                    break  # the StoppingCriteria ends the thread at the next token
                yield from self._pieces([piece], False, state)
            if failure:
                raise failure[0]
            if not self.interrupted:
                yield from self._pieces([], True, state)
        finally:
            if thread.is_alive():
                self.interrupt()  # the consumer left: stop generating
            thread.join()
            self._finish(state)
