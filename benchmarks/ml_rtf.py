"""Real-time factor of speech models on this machine, local and offloaded.

Run: ``python benchmarks/ml_rtf.py [--repeats N]`` (about two minutes on 2 cores).

Rows, on the shipped speech clip's two utterances (3.7 s of speech at 16 kHz):
  * ASR: Whisper with the published whisper-tiny and whisper-base configurations
    and random weights (the true compute cost, no download), 24 decoded tokens per
    utterance, local and through ``rm.remote`` to a server on loopback (same
    machine): offload overhead in ms per utterance and in % of the model's time,
  * TTS: OfflineTTS (Piper en_US-joe-medium, a VITS model) on one sentence,
    local and remote,
  * VAD: SileroVAD against EnergyVAD, ms per 20 ms frame.
Local and remote runs take turns, repeat after repeat; medians are printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import remotemedia as rm  # noqa: E402
from remotemedia import nodes  # noqa: E402

WHISPER = {
    # The published configurations (openai/whisper-tiny, openai/whisper-base).
    "whisper-tiny": dict(
        d_model=384,
        encoder_layers=4,
        decoder_layers=4,
        encoder_attention_heads=6,
        decoder_attention_heads=6,
        encoder_ffn_dim=1536,
        decoder_ffn_dim=1536,
    ),
    "whisper-base": dict(
        d_model=512,
        encoder_layers=6,
        decoder_layers=6,
        encoder_attention_heads=8,
        decoder_attention_heads=8,
        encoder_ffn_dim=2048,
        decoder_ffn_dim=2048,
    ),
}
TOKENS = 24
SENTENCE = "The quick brown fox jumps over the lazy dog, and then it runs away."


class WhisperCost(rm.Node):
    """Whisper of a published size with random weights: features, encoder, and
    ``TOKENS`` greedy decoder steps per utterance (what ASR of one utterance costs)."""

    blocking = True

    def __init__(self, size: str, name: str | None = None) -> None:
        super().__init__(name=name)
        self.size = size
        self._model: Any = None

    def initialize(self) -> None:
        import torch
        import transformers

        transformers.logging.set_verbosity_error()  # generate()'s length notes
        torch.manual_seed(0)
        config = transformers.WhisperConfig(
            vocab_size=51865, num_mel_bins=80, **WHISPER[self.size]
        )
        self._model = transformers.WhisperForConditionalGeneration(config).eval()
        self._features = transformers.WhisperFeatureExtractor()

    def process(self, data: Any) -> Any:
        import torch

        feats = self._features(
            data.samples[0], sampling_rate=16000, return_tensors="pt"
        ).input_features
        with torch.inference_mode():
            ids = self._model.generate(
                feats, max_new_tokens=TOKENS, min_new_tokens=TOKENS, do_sample=False
            )
        return int(ids.shape[1])

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_model"] = None
        state["_initialized"] = False
        return state


def _timed(node: rm.Node, inputs: list[Any]) -> float:
    pipeline = rm.Pipeline([node])
    start = time.perf_counter()
    pipeline.collect(inputs)
    return time.perf_counter() - start


def _row(label: str, audio_s: float, local: list[float], remote: list[float]) -> str:
    lo, re = statistics.median(local), statistics.median(remote)
    overhead = (re - lo) / 2 * 1000  # two utterances/inputs per run
    return (
        f"| {label} | {audio_s:.2f} | {lo:.3f} | {lo / audio_s:.3f} | {re:.3f} | "
        f"{re / audio_s:.3f} | {overhead:+.1f} | {100 * (re - lo) / lo:+.1f}% |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from remotemedia.nodes.ml.offline_tts import OfflineTTS
    from remotemedia.nodes.ml.silero import SileroVAD

    clip = list(nodes.AudioFileSource(rm.data.speech()))
    frames16 = rm.Pipeline([nodes.Resample(16000)]).collect(clip)
    utterances = rm.Pipeline([SileroVAD()]).collect(frames16)
    speech_s = sum(u.duration for u in utterances)
    session = rm.remote(nodes.Gain(0)).session  # the embedded loopback server
    print(
        "| model | audio s | local s | local RTF | remote s | remote RTF | "
        "offload ms/utterance | overhead |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for size in WHISPER:
        local, remote = WhisperCost(size), rm.remote(WhisperCost(size), session)
        _timed(local, utterances[:1]), _timed(remote, utterances[:1])  # load, warm
        lt, rt = [], []
        for _ in range(args.repeats):
            lt.append(_timed(local, utterances))
            rt.append(_timed(remote, utterances))
        print(_row(f"ASR {size} (random weights)", speech_s, lt, rt), flush=True)
    tts_local, tts_remote = OfflineTTS(), rm.remote(OfflineTTS(), session)
    spoken = sum(f.duration for f in tts_local(SENTENCE))
    _timed(tts_remote, [SENTENCE])
    lt, rt = [], []
    for _ in range(args.repeats):
        lt.append(_timed(tts_local, [SENTENCE, SENTENCE]))
        rt.append(_timed(tts_remote, [SENTENCE, SENTENCE]))
    print(_row("TTS Piper joe-medium (VITS)", 2 * spoken, lt, rt), flush=True)
    # VAD: per 20 ms frame, the node's own process() over the clip at 16 kHz.
    print("\n| VAD | ms per 20 ms frame | x EnergyVAD |")
    print("|---|---|---|")
    costs = {}
    for cls in (nodes.EnergyVAD, SileroVAD):
        runs = []
        for _ in range(max(3, args.repeats)):
            vad = cls()
            vad.initialize()
            start = time.perf_counter()
            for frame in frames16:
                vad.process(frame)
            runs.append((time.perf_counter() - start) / len(frames16) * 1000)
        costs[cls.__name__] = min(runs)
    for name, ms in costs.items():
        print(f"| {name} | {ms:.3f} | {ms / costs['EnergyVAD']:.1f} |")
    target = "met" if costs["SileroVAD"] < 0.5 else "MISSED"
    print(f"\nSileroVAD target < 0.5 ms/frame: {target} ({len(frames16)} frames)")


if __name__ == "__main__":
    main()
