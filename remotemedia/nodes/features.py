"""Spectral features matching librosa: STFT magnitude, mel spectrogram and MFCC.

Each node turns one AudioFrame (the float32 mean of its channels) into one
:class:`Spectrogram`; frames are analysed independently (no overlap is carried
between inputs), so feed whole clips, VAD segments or long rebuffered frames.
librosa is imported on first use.
"""

from __future__ import annotations

import logging
from typing import Any, Literal

import numpy as np

from remotemedia.core.frames import AudioFrame
from remotemedia.core.node import Node
from remotemedia.core.registry import register_node
from remotemedia.nodes.audio import check_number, require_audio

__all__ = ["Spectrogram", "STFT", "MelSpectrogram", "MFCC"]

logger = logging.getLogger(__name__)

SpectrogramKind = Literal["stft", "mel", "mfcc"]
_KINDS = ("stft", "mel", "mfcc")


class Spectrogram:
    """A time-frequency representation of audio, as produced by the feature nodes.

    Args:
        values: float32 array shaped ``(bins, frames)``: magnitudes ("stft"), mel
            power or dB ("mel"), or cepstral coefficients ("mfcc").
        sample_rate: Sample rate of the analysed audio in Hz.
        hop_length: Samples between consecutive frames.
        kind: "stft", "mel" or "mfcc".
        db: Whether ``values`` are in decibels.
        timestamp: Stream time of the analysed audio's first sample, in seconds.
        n_fft: FFT size used.
        fmin: Lowest mel band edge in Hz (mel and mfcc).
        fmax: Highest mel band edge in Hz (mel and mfcc).

    Raises:
        ValueError: If ``values`` is not 2-D or a field is invalid.
    """

    __slots__ = (
        "values",
        "sample_rate",
        "hop_length",
        "kind",
        "db",
        "timestamp",
        "n_fft",
        "fmin",
        "fmax",
    )
    __hash__ = None  # type: ignore[assignment]  # mutable payload

    def __init__(
        self,
        values: np.ndarray,
        sample_rate: int,
        hop_length: int,
        kind: SpectrogramKind,
        db: bool = False,
        timestamp: float = 0.0,
        n_fft: int | None = None,
        fmin: float | None = None,
        fmax: float | None = None,
    ) -> None:
        values = np.asarray(values)
        if values.ndim != 2:
            raise ValueError(
                f"Spectrogram values must be shaped (bins, frames), got {values.shape}"
            )
        if kind not in _KINDS:
            raise ValueError(f"Spectrogram kind must be one of {_KINDS}, got {kind!r}")
        if int(sample_rate) <= 0 or int(hop_length) <= 0:
            raise ValueError(
                "Spectrogram sample_rate and hop_length must be positive, got "
                f"{sample_rate!r} and {hop_length!r}"
            )
        self.values: np.ndarray = values.astype(np.float32, copy=False)
        self.sample_rate: int = int(sample_rate)
        self.hop_length: int = int(hop_length)
        self.kind: str = kind
        self.db: bool = bool(db)
        self.timestamp: float = float(timestamp)
        self.n_fft: int | None = None if n_fft is None else int(n_fft)
        self.fmin: float | None = None if fmin is None else float(fmin)
        self.fmax: float | None = None if fmax is None else float(fmax)

    @property
    def bins(self) -> int:
        """Number of frequency bins (or coefficients)."""
        return int(self.values.shape[0])

    @property
    def num_frames(self) -> int:
        """Number of analysis frames."""
        return int(self.values.shape[1])

    @property
    def times(self) -> np.ndarray:
        """Centre time of each frame in seconds: ``timestamp + t * hop / rate``."""
        return self.timestamp + np.arange(self.num_frames) * (
            self.hop_length / self.sample_rate
        )

    @property
    def frequencies(self) -> np.ndarray:
        """Frequency of each bin in Hz.

        STFT: ``k * rate / n_fft``. Mel: the centre frequency of each mel band
        (librosa's slaney mel scale between ``fmin`` and ``fmax``). MFCC: there is
        no frequency axis, so this is the coefficient index ``0 .. bins-1``.
        """
        if self.kind == "stft":
            n_fft = self.n_fft or 2 * (self.bins - 1)
            return np.arange(self.bins) * (self.sample_rate / n_fft)
        if self.kind == "mel":
            import librosa

            fmax = self.fmax if self.fmax is not None else self.sample_rate / 2
            edges = librosa.mel_frequencies(
                self.bins + 2, fmin=self.fmin or 0.0, fmax=fmax
            )
            return np.asarray(edges[1:-1])
        return np.arange(self.bins, dtype=np.float64)

    def describe(self) -> str:
        """One-line summary, used in reprs and displays."""
        unit = ", dB" if self.db else ""
        return (
            f"Spectrogram({self.kind}, {self.bins} bins x {self.num_frames} frames, "
            f"{self.sample_rate} Hz, hop {self.hop_length}{unit}, t={self.timestamp:.3f}s)"
        )

    def __repr__(self) -> str:
        return self.describe()

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Spectrogram):
            return NotImplemented
        return all(
            getattr(self, field) == getattr(other, field)
            for field in self.__slots__
            if field != "values"
        ) and np.array_equal(self.values, other.values)

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            Spectrogram,
            (
                self.values,
                self.sample_rate,
                self.hop_length,
                self.kind,
                self.db,
                self.timestamp,
                self.n_fft,
                self.fmin,
                self.fmax,
            ),
        )

    def _repr_png_(self) -> bytes:
        # Lazy import: display lives above nodes and pulls in matplotlib.
        from remotemedia.notebook.display import spectrogram_png

        return spectrogram_png(self)


def _mono(frame: AudioFrame) -> np.ndarray:
    """The float32 mono mix of a frame (mean of the channels)."""
    return frame.samples[0] if frame.channels == 1 else frame.to_mono().samples[0]


_WINDOWS: dict[tuple[str, int], np.ndarray] = {}


def _window(name: str, n_fft: int) -> np.ndarray:
    """The periodic window librosa uses (``scipy.signal.get_window(..., fftbins=True)``)."""
    key = (name, n_fft)
    window = _WINDOWS.get(key)
    if window is None:
        from scipy.signal import get_window

        window = _WINDOWS[key] = np.asarray(get_window(name, n_fft, fftbins=True))
    return window


def _stft_magnitude(
    y: np.ndarray, n_fft: int, hop: int, window: str, center: bool, node: str
) -> np.ndarray:
    """``abs(librosa.stft(y, n_fft, hop, window=window, center=center))``, float32.

    Computed directly (zero padding by ``n_fft // 2`` when centred, frames every
    ``hop`` samples, periodic window, real FFT): the same arithmetic as librosa
    without its per-call overhead, which dominates on short streaming frames.
    """
    if center:
        pad = n_fft // 2
        y = np.concatenate(
            [np.zeros(pad, dtype=y.dtype), y, np.zeros(pad, dtype=y.dtype)]
        )
    if y.size < n_fft:
        raise ValueError(
            f"{node}: input of {y.size} samples is shorter than n_fft={n_fft}"
            + ("" if center else " (use center=True or a longer input)")
        )
    count = 1 + (y.size - n_fft) // hop
    # A strided view (no copy): frame t starts at sample t * hop.
    frames = np.lib.stride_tricks.as_strided(
        y,
        shape=(count, n_fft),
        strides=(hop * y.strides[0], y.strides[0]),
        writeable=False,
    )
    spectrum = np.fft.rfft(frames * _window(window, n_fft), axis=-1)
    return np.abs(spectrum).astype(np.float32).T


def _check_fft(node: str, n_fft: int, hop_length: int | None) -> int:
    check_number(node, "n_fft", n_fft, integer=True, minimum=2)
    if hop_length is None:
        return max(1, int(n_fft) // 4)
    check_number(node, "hop_length", hop_length, positive=True, integer=True)
    return int(hop_length)


@register_node
class STFT(Node):
    """Magnitude spectrogram (short-time Fourier transform) of each input.

    Algorithm: ``values = abs(librosa.stft(mono, n_fft=n_fft, hop_length=hop,
    window=window, center=center))`` as float32, shaped ``(1 + n_fft // 2,
    frames)``, where ``mono`` is the float32 mean of the channels and ``hop``
    defaults to ``n_fft // 4``. With ``center=True`` the input is zero-padded by
    ``n_fft // 2`` on both sides (librosa's ``pad_mode="constant"``) and frame ``t``
    is centred on sample ``t * hop``. The window is periodic
    (``scipy.signal.get_window(window, n_fft, fftbins=True)``). Each input is
    analysed on its own. (Computed with numpy's real FFT in double precision, the
    same arithmetic as librosa without its per-call overhead.)

    Args:
        n_fft: FFT size in samples.
        hop_length: Samples between frames; None means ``n_fft // 4``.
        window: Window function: "hann", "hamming" or "blackman".
        center: Centre frames on their time (pad the input by ``n_fft // 2``).

    Raises:
        ValueError: If a parameter is invalid; for an input shorter than
            ``n_fft`` when ``center`` is False.
    """

    input_kind = "audio"
    output_kind = "spectrogram"

    def __init__(
        self,
        n_fft: int = 512,
        hop_length: int | None = None,
        window: Literal["hann", "hamming", "blackman"] = "hann",
        center: bool = True,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.hop = _check_fft("STFT", n_fft, hop_length)
        if window not in ("hann", "hamming", "blackman"):
            raise ValueError(
                f"STFT: window must be 'hann', 'hamming' or 'blackman', got {window!r}"
            )
        if not isinstance(center, bool):
            raise ValueError(f"STFT: center must be true or false, got {center!r}")
        self.n_fft = int(n_fft)
        self.hop_length = hop_length
        self.window = window
        self.center = center

    def process(self, data: Any) -> Any:
        frame = require_audio(self, data)
        mag = _stft_magnitude(
            _mono(frame), self.n_fft, self.hop, self.window, self.center, "STFT"
        )
        return Spectrogram(
            mag, frame.sample_rate, self.hop, "stft", False, frame.timestamp, self.n_fft
        )


@register_node
class MelSpectrogram(Node):
    """Mel spectrogram (optionally in dB) of each input.

    Algorithm (equal to ``librosa.feature.melspectrogram`` with ``power=2.0``,
    ``center=True``, ``window="hann"``, ``pad_mode="constant"``): ``S =
    abs(librosa.stft(mono, n_fft, hop))**2``; ``M = B @ S`` with ``B =
    librosa.filters.mel(sr=rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin,
    fmax=fmax)`` (slaney mel scale, slaney area normalisation; ``fmax`` None means
    ``rate / 2``). With ``log=True``: ``librosa.power_to_db(M, ref=1.0,
    amin=1e-10, top_db=None)``, i.e. ``10 * log10(max(M, 1e-10))``. ``mono`` is the
    float32 mean of the channels, ``hop`` defaults to ``n_fft // 4``. Returns a
    float32 Spectrogram of kind "mel" shaped ``(n_mels, frames)``.

    Args:
        n_mels: Number of mel bands.
        n_fft: FFT size in samples.
        hop_length: Samples between frames; None means ``n_fft // 4``.
        fmin: Lowest band edge in Hz.
        fmax: Highest band edge in Hz; None means half the sample rate.
        log: Return decibels (``power_to_db``) instead of power.

    Raises:
        ValueError: If a parameter is invalid; at an input, if ``fmax`` is above
            half its sample rate.
    """

    input_kind = "audio"
    output_kind = "spectrogram"

    def __init__(
        self,
        n_mels: int = 64,
        n_fft: int = 512,
        hop_length: int | None = None,
        fmin: float = 0.0,
        fmax: float | None = None,
        log: bool = True,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        self.hop = _check_fft(type(self).__name__, n_fft, hop_length)
        node = type(self).__name__
        check_number(node, "n_mels", n_mels, positive=True, integer=True)
        check_number(node, "fmin", fmin, minimum=0.0)
        if fmax is not None:
            check_number(node, "fmax", fmax, positive=True)
            if fmax <= fmin:
                raise ValueError(
                    f"{node}: fmax must be above fmin ({fmin}), got {fmax}"
                )
        if not isinstance(log, bool):
            raise ValueError(f"{node}: log must be true or false, got {log!r}")
        self.n_mels = int(n_mels)
        self.n_fft = int(n_fft)
        self.hop_length = hop_length
        self.fmin = float(fmin)
        self.fmax = None if fmax is None else float(fmax)
        self.log = log
        self._bases: dict[int, np.ndarray] = {}

    def _fmax(self, rate: int) -> float:
        fmax = self.fmax if self.fmax is not None else rate / 2
        if fmax > rate / 2:
            raise ValueError(
                f"{type(self).__name__}: fmax must be at most half the sample rate "
                f"({rate / 2:g} Hz), got {fmax:g}"
            )
        if fmax <= self.fmin:
            raise ValueError(
                f"{type(self).__name__}: fmin ({self.fmin:g}) must be below fmax "
                f"({fmax:g} Hz at {rate} Hz)"
            )
        return fmax

    def mel_power(self, frame: AudioFrame) -> np.ndarray:
        """The mel power spectrogram ``B @ |STFT|**2`` of a frame (float32)."""
        import librosa

        rate = frame.sample_rate
        basis = self._bases.get(rate)
        if basis is None:
            basis = librosa.filters.mel(
                sr=rate,
                n_fft=self.n_fft,
                n_mels=self.n_mels,
                fmin=self.fmin,
                fmax=self._fmax(rate),
            )
            self._bases[rate] = basis
        mag = _stft_magnitude(
            _mono(frame), self.n_fft, self.hop, "hann", True, type(self).__name__
        )
        return (basis @ (mag * mag)).astype(np.float32, copy=False)

    def log_mel(self, frame: AudioFrame) -> np.ndarray:
        """``power_to_db`` of :meth:`mel_power` (ref 1.0, amin 1e-10, no top_db)."""
        import librosa

        return librosa.power_to_db(
            self.mel_power(frame), ref=1.0, amin=1e-10, top_db=None
        )

    def process(self, data: Any) -> Any:
        frame = require_audio(self, data)
        values = self.log_mel(frame) if self.log else self.mel_power(frame)
        return Spectrogram(
            values,
            frame.sample_rate,
            self.hop,
            "mel",
            self.log,
            frame.timestamp,
            self.n_fft,
            self.fmin,
            self._fmax(frame.sample_rate),
        )


@register_node
class MFCC(MelSpectrogram):
    """Mel-frequency cepstral coefficients of each input.

    Algorithm: ``librosa.feature.mfcc(S=L, n_mfcc=n_mfcc)`` (DCT type II,
    ``norm="ortho"``, no liftering) of ``L``, the log-mel spectrogram computed
    exactly as :class:`MelSpectrogram` with ``log=True``, ``fmin=0`` and
    ``fmax=rate/2``. Returns a float32 Spectrogram of kind "mfcc" shaped
    ``(n_mfcc, frames)``.

    Args:
        n_mfcc: Number of coefficients (at most ``n_mels``).
        n_mels: Number of mel bands.
        n_fft: FFT size in samples.
        hop_length: Samples between frames; None means ``n_fft // 4``.

    Raises:
        ValueError: If a parameter is invalid.
    """

    def __init__(
        self,
        n_mfcc: int = 13,
        n_mels: int = 64,
        n_fft: int = 512,
        hop_length: int | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(n_mels=n_mels, n_fft=n_fft, hop_length=hop_length, name=name)
        check_number("MFCC", "n_mfcc", n_mfcc, positive=True, integer=True)
        if n_mfcc > n_mels:
            raise ValueError(
                f"MFCC: n_mfcc must be at most n_mels ({n_mels}), got {n_mfcc}"
            )
        self.n_mfcc = int(n_mfcc)

    def process(self, data: Any) -> Any:
        import librosa

        frame = require_audio(self, data)
        coefficients = librosa.feature.mfcc(S=self.log_mel(frame), n_mfcc=self.n_mfcc)
        return Spectrogram(
            coefficients,
            frame.sample_rate,
            self.hop,
            "mfcc",
            False,
            frame.timestamp,
            self.n_fft,
            0.0,
            self._fmax(frame.sample_rate),
        )
