"""Tiny real models for the ML node tests, built from configs with random weights.

Every model is saved with ``save_pretrained`` to a session temp folder and loaded
back by path through the nodes' own loading code; tokenizers and feature extractors
are built locally too, so nothing is downloaded (the hub is switched off below,
before transformers is imported).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

torch = pytest.importorskip("torch", reason="the ml extra (torch) is not installed")
transformers = pytest.importorskip(
    "transformers", reason="the ml extra (transformers) is not installed"
)

_CORPUS = [
    "hello world this is a tiny test. How are you today?",
    "the quick brown fox jumps over the lazy dog! Yes, it does.",
]


def _bpe(folder: Path, specials: list[str], size: int = 300) -> Any:
    """A byte-level BPE tokenizer trained on two sentences (vocab.json+merges.txt)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=specials,
    )
    tok.train_from_iterator(_CORPUS, trainer)
    folder.mkdir(parents=True, exist_ok=True)
    tok.model.save(str(folder))
    return tok


@pytest.fixture(scope="session")
def tiny_whisper(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A 1+1-layer Whisper (d_model 32) with its tokenizer and feature extractor."""
    work = tmp_path_factory.mktemp("whisper")
    _bpe(work / "bpe", [])
    specials = [
        "<|endoftext|>",
        "<|startoftranscript|>",
        "<|en|>",
        "<|de|>",
        "<|translate|>",
        "<|transcribe|>",
        "<|startoflm|>",
        "<|startofprev|>",
        "<|nocaptions|>",
        "<|notimestamps|>",
    ]
    tokenizer = transformers.WhisperTokenizer(
        str(work / "bpe" / "vocab.json"),
        str(work / "bpe" / "merges.txt"),
        unk_token=specials[0],
        bos_token=specials[0],
        eos_token=specials[0],
        pad_token=specials[0],
    )
    tokenizer.add_special_tokens({"additional_special_tokens": specials[1:]})
    ids = {s: tokenizer.convert_tokens_to_ids(s) for s in specials}
    config = transformers.WhisperConfig(
        vocab_size=len(tokenizer),
        num_mel_bins=80,
        d_model=32,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_source_positions=1500,
        max_target_positions=64,
        pad_token_id=ids["<|endoftext|>"],
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|endoftext|>"],
        decoder_start_token_id=ids["<|startoftranscript|>"],
    )
    torch.manual_seed(0)
    model = transformers.WhisperForConditionalGeneration(config).eval()
    gen = model.generation_config
    gen._from_model_config = False  # keep the Whisper fields below when saved
    gen.no_timestamps_token_id = ids["<|notimestamps|>"]
    gen.lang_to_id = {"<|en|>": ids["<|en|>"], "<|de|>": ids["<|de|>"]}
    gen.task_to_id = {
        "transcribe": ids["<|transcribe|>"],
        "translate": ids["<|translate|>"],
    }
    gen.is_multilingual = True
    gen.max_length = 12
    gen.forced_decoder_ids = None
    gen.begin_suppress_tokens = None
    gen.suppress_tokens = None
    out = work / "model"
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    transformers.WhisperFeatureExtractor().save_pretrained(out)
    return str(out)


@pytest.fixture(scope="session")
def tiny_qwen3(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A 2-layer Qwen3 (hidden 32) with a ChatML template."""
    work = tmp_path_factory.mktemp("qwen3")
    tok = _bpe(work / "bpe", ["<|endoftext|>", "<|im_start|>", "<|im_end|>"])
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>"
    )
    tokenizer.chat_template = (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}"
        "<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    config = transformers.Qwen3Config(
        vocab_size=len(tokenizer),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=8,
        max_position_embeddings=1024,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=None,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    model = transformers.Qwen3ForCausalLM(config).eval()
    out = work / "model"
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return str(out)


@pytest.fixture(scope="session")
def tiny_vits(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A one-layer VITS text-to-speech model (16 kHz) with a character tokenizer."""
    work = tmp_path_factory.mktemp("vits")
    chars = list(" abcdefghijklmnopqrstuvwxyz'.,?!-")
    vocab = {c: i for i, c in enumerate(["<pad>", *chars])}
    (work / "vocab.json").write_text(json.dumps(vocab))
    tokenizer = transformers.VitsTokenizer(
        str(work / "vocab.json"),
        pad_token="<pad>",
        unk_token="<pad>",
        add_blank=True,
        normalize=True,
        phonemize=False,
    )
    config = transformers.VitsConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        ffn_dim=32,
        flow_size=16,
        spectrogram_bins=33,
        upsample_initial_channel=32,
        upsample_rates=[8, 8],
        upsample_kernel_sizes=[16, 16],
        resblock_kernel_sizes=[3],
        resblock_dilation_sizes=[[1, 3]],
        prior_encoder_num_flows=1,
        prior_encoder_num_wavenet_layers=1,
        posterior_encoder_num_wavenet_layers=1,
        duration_predictor_num_flows=1,
        duration_predictor_filter_channels=16,
        depth_separable_num_layers=1,
        sampling_rate=16000,
    )
    torch.manual_seed(0)
    model = transformers.VitsModel(config).eval()
    out = work / "model"
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return str(out)


AUDIO_LABELS = ["speech", "music", "noise", "silence"]


@pytest.fixture(scope="session")
def tiny_audio_classifier(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A one-layer Wav2Vec2 sequence classifier over four labels (16 kHz)."""
    out = tmp_path_factory.mktemp("audio_cls") / "model"
    config = transformers.Wav2Vec2Config(
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        conv_dim=(32, 32),
        conv_stride=(5, 4),
        conv_kernel=(10, 8),
        num_conv_pos_embeddings=16,
        num_conv_pos_embedding_groups=2,
        num_labels=len(AUDIO_LABELS),
        id2label=dict(enumerate(AUDIO_LABELS)),
        label2id={label: i for i, label in enumerate(AUDIO_LABELS)},
        classifier_proj_size=16,
        feat_extract_norm="group",
    )
    torch.manual_seed(0)
    transformers.Wav2Vec2ForSequenceClassification(config).eval().save_pretrained(out)
    transformers.Wav2Vec2FeatureExtractor(
        sampling_rate=16000, return_attention_mask=True
    ).save_pretrained(out)
    return str(out)


@pytest.fixture(scope="session")
def tiny_text_classifier(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A one-layer BERT text classifier (two labels) with a word-level tokenizer."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    out = tmp_path_factory.mktemp("text_cls") / "model"
    words = sorted({w.strip(".,!?").lower() for s in _CORPUS for w in s.split()})
    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", *words])}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]"
    )
    config = transformers.BertConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
        num_labels=2,
        id2label={0: "NEGATIVE", 1: "POSITIVE"},
        label2id={"NEGATIVE": 0, "POSITIVE": 1},
    )
    torch.manual_seed(0)
    transformers.BertForSequenceClassification(config).eval().save_pretrained(out)
    tokenizer.save_pretrained(out)
    return str(out)


@pytest.fixture
def empty_hf_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Hugging Face cache (HF_HOME) for the offline error paths."""
    home = tmp_path / "hf-home"
    home.mkdir()
    monkeypatch.setenv("HF_HOME", str(home))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    return home
