"""Audio processing nodes: resampling, gain, loudness, channels, filters, framing.

Every node takes :class:`~remotemedia.AudioFrame` input (float32 ``(channels, n)``).
Streaming state (resampler, filter memories, partial frames) persists across frames
and is reset by ``flush()``. Output timestamps continue from the input timestamps.
These semantics are shared with the Rust runtime's native nodes, so each class
docstring states its algorithm exactly.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from typing import Any, Literal

import numpy as np

from remotemedia.core.frames import AudioFrame
from remotemedia.core.node import Node, Outputs, Source
from remotemedia.core.registry import register_node
from remotemedia.nodes._checks import (
    check_number,
    check_sample_rate,
    require_audio,
)
from remotemedia.nodes.clip import ClipNode

__all__ = [
    "Resample",
    "Gain",
    "Normalize",
    "ChannelMix",
    "HighPass",
    "LowPass",
    "Rebuffer",
    "ToneSource",
    "NoiseSource",
]

logger = logging.getLogger(__name__)


# -- shared helpers -------------------------------------------------------------
def frame_samples(rate: int, ms: float) -> int:
    """Samples in ``ms`` milliseconds at ``rate``: ``round(rate * ms / 1000)``."""
    return int(round(rate * ms / 1000.0))


def mix_channels(samples: np.ndarray, channels: int) -> np.ndarray:
    """Maps ``(c, n)`` samples to ``channels`` channels (see :class:`ChannelMix`)."""
    have = samples.shape[0]
    if have == channels:
        return samples
    if have == 1:
        return np.repeat(samples, channels, axis=0)
    if channels == 1:
        return samples.mean(axis=0, keepdims=True, dtype=np.float32)
    if channels < have:
        return np.ascontiguousarray(samples[:channels])
    extra = np.repeat(samples[-1:], channels - have, axis=0)
    return np.concatenate([samples, extra], axis=0)


# -- Resample -------------------------------------------------------------------
@register_node
class Resample(Node):
    """Converts audio to another sample rate with a band-limited streaming resampler.

    Algorithm: one ``soxr.ResampleStream(in_rate, target_rate, channels,
    dtype="float32", quality=quality)`` per stream, fed every frame (all channels
    together, samples interleaved as ``(n, channels)``). The resampler has a delay,
    so the first outputs are shorter than the inputs; ``flush()`` drains the tail
    (``last=True``) and resets. Frames already at ``target_rate`` pass through
    untouched. A change of input rate or channel count drains the current stream
    first. Output timestamps are the timestamp of the stream's first input plus the
    output samples emitted so far divided by ``target_rate``. A call that yields no
    samples emits nothing. The Rust runtime uses a windowed-sinc polyphase filter
    for small integer ratios and rubato's FFT resampler otherwise; after aligning
    the delay it agrees with this node to an SNR >= 40 dB on band-limited signals.

    Args:
        target_rate: Output sample rate in Hz.
        quality: soxr quality recipe: "HQ" (default), "VHQ" or "MQ".

    Raises:
        ValueError: If ``target_rate`` is not a positive integer or ``quality`` is
            unknown.
    """

    input_kind = "audio"
    output_kind = "audio"

    def __init__(
        self,
        target_rate: int,
        quality: Literal["HQ", "VHQ", "MQ"] = "HQ",
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        check_number(
            "Resample", "target_rate", target_rate, positive=True, integer=True
        )
        if quality not in ("HQ", "VHQ", "MQ"):
            raise ValueError(
                f"Resample: quality must be 'HQ', 'VHQ' or 'MQ', got {quality!r}"
            )
        self.target_rate = int(target_rate)
        self.quality = quality
        self._reset()

    def _reset(self) -> None:
        self._stream: Any = None
        self._key: tuple[int, int] | None = None
        self._t0 = 0.0
        self._emitted = 0

    def _frame(self, out: np.ndarray) -> AudioFrame | None:
        """Wraps soxr output ``(n,)`` or ``(n, c)`` as a frame, None when empty."""
        if out.shape[0] == 0:
            return None
        samples = out.reshape(1, -1) if out.ndim == 1 else np.ascontiguousarray(out.T)
        frame = AudioFrame(
            samples, self.target_rate, self._t0 + self._emitted / self.target_rate
        )
        self._emitted += samples.shape[1]
        return frame

    def _drain(self) -> AudioFrame | None:
        if self._stream is None:
            return None
        channels = self._key[1] if self._key else 1
        empty = np.zeros((0,) if channels == 1 else (0, channels), dtype=np.float32)
        tail = self._frame(self._stream.resample_chunk(empty, last=True))
        self._reset()
        return tail

    def process(self, data: Any) -> Any:
        frame = require_audio(self, data)
        outputs = Outputs()
        key = (frame.sample_rate, frame.channels)
        if self._key is not None and key != self._key:
            tail = self._drain()
            if tail is not None:
                outputs.append(tail)
        if frame.sample_rate == self.target_rate:
            outputs.append(frame)
            return outputs
        if self._stream is None:
            import soxr

            self._stream = soxr.ResampleStream(
                frame.sample_rate,
                self.target_rate,
                frame.channels,
                dtype="float32",
                quality=self.quality,
            )
            self._key = key
            self._t0 = frame.timestamp
        x = frame.samples[0] if frame.channels == 1 else frame.samples.T
        out = self._frame(self._stream.resample_chunk(np.ascontiguousarray(x)))
        if out is not None:
            outputs.append(out)
        return outputs

    def flush(self) -> Any:
        return self._drain()


# -- Gain -----------------------------------------------------------------------
@register_node
class Gain(Node):
    """Multiplies every sample by a fixed gain given in decibels.

    Algorithm: ``y = x * g`` with ``g = float32(10 ** (db / 20))`` computed in double
    precision and rounded once to float32; the product is float32. Stateless.

    Args:
        db: Gain in dB (negative attenuates, 0 passes through).

    Raises:
        ValueError: If ``db`` is not a finite number.
    """

    input_kind = "audio"
    output_kind = "audio"

    def __init__(self, db: float = 0.0, name: str | None = None) -> None:
        super().__init__(name=name)
        check_number("Gain", "db", db)
        self.db = float(db)
        self._factor = np.float32(10.0 ** (self.db / 20.0))

    def process(self, data: Any) -> Any:
        frame = require_audio(self, data)
        return frame.with_samples(frame.samples * self._factor)


# -- Normalize ------------------------------------------------------------------
def _k_weighting_sos(rate: int) -> np.ndarray:
    """BS.1770 K-weighting (shelf + high-pass) as two SOS rows for ``rate``.

    The analog prototype (libebur128's design) re-derived for any rate with the
    bilinear transform; at 48 kHz it gives the coefficients printed in BS.1770-4.
    """
    # Stage 1: high shelf, +4 dB above ~1.7 kHz (models the head).
    f0, gain_db, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = math.tan(math.pi * f0 / rate)
    vh = 10.0 ** (gain_db / 20.0)
    vb = vh**0.4996667741545416
    a0 = 1.0 + k / q + k * k
    shelf = [
        (vh + vb * k / q + k * k) / a0,
        2.0 * (k * k - vh) / a0,
        (vh - vb * k / q + k * k) / a0,
        1.0,
        2.0 * (k * k - 1.0) / a0,
        (1.0 - k / q + k * k) / a0,
    ]
    # Stage 2: RLB high-pass at ~38 Hz.
    f0, q = 38.13547087602444, 0.5003270373238773
    k = math.tan(math.pi * f0 / rate)
    a0 = 1.0 + k / q + k * k
    highpass = [
        1.0,
        -2.0,
        1.0,
        1.0,
        2.0 * (k * k - 1.0) / a0,
        (1.0 - k / q + k * k) / a0,
    ]
    return np.array([shelf, highpass], dtype=np.float64)


def integrated_loudness(frame: AudioFrame) -> float:
    """Integrated loudness of a whole frame in LUFS (ITU-R BS.1770-4).

    K-weighting per channel (zero initial state), mean square per 400 ms block with
    a 100 ms step (blocks at ``j * step`` while ``j * step + block <= n``; inputs
    shorter than one block use one block over the whole input), block loudness
    ``-0.691 + 10 * log10(sum_c z_c)`` (every channel weighted 1.0: frames carry no
    speaker layout), absolute gate -70 LUFS, relative gate -10 LU below the loudness
    of the absolute-gated blocks. Returns ``-inf`` when no block passes the gates.
    """
    from scipy.signal import sosfilt

    rate = frame.sample_rate
    y = sosfilt(_k_weighting_sos(rate), frame.samples.astype(np.float64), axis=-1)
    n = y.shape[1]
    block = frame_samples(rate, 400.0)
    step = frame_samples(rate, 100.0)
    if n == 0:
        return -math.inf
    if n < block:
        z = np.mean(y * y, axis=1, keepdims=True)  # (channels, 1)
    else:
        count = 1 + (n - block) // step
        # Mean squares of overlapping blocks from a cumulative sum: O(n), no copies.
        cum = np.zeros((y.shape[0], n + 1))
        np.cumsum(y * y, axis=1, out=cum[:, 1:])
        starts = np.arange(count) * step
        z = (cum[:, starts + block] - cum[:, starts]) / block
    power = z.sum(axis=0)
    with np.errstate(divide="ignore"):
        loudness = -0.691 + 10.0 * np.log10(power)
    gated = power[loudness > -70.0]
    if gated.size == 0:
        return -math.inf
    relative = -0.691 + 10.0 * math.log10(float(gated.mean())) - 10.0
    gated = power[(loudness > -70.0) & (loudness > relative)]
    if gated.size == 0:
        return -math.inf
    return -0.691 + 10.0 * math.log10(float(gated.mean()))


@register_node
class Normalize(ClipNode):
    """Scales a whole clip to a target peak level or integrated loudness.

    Exactly one target applies; with neither given the target is ``peak_db=-1.0``.
    A clip-level node (see :mod:`remotemedia.nodes.clip`): in a stream the frames
    of one clip (each starting where the previous ended) are gathered and the clip
    is scaled by one gain when it ends, so its dynamics are kept; separate clips
    (VAD segments, several files) are scaled each on its own. Called on one frame
    (``node(clip)``) it scales that frame as a whole.

    * peak: ``g = 10 ** (peak_db / 20) / max|x|`` over all channels and samples; an
      all-zero input passes unchanged.
    * lufs: ``g = 10 ** ((lufs - L) / 20)`` where ``L`` is the input's integrated
      loudness per ITU-R BS.1770-4 (see :func:`integrated_loudness`); an input with
      no block above the gates (silence) passes unchanged.

    The gain is computed in double precision, rounded to float32 and multiplied in;
    nothing limits the result, so a loudness target may push peaks above 0 dBFS.

    Args:
        peak_db: Target peak in dBFS (e.g. -1.0).
        lufs: Target integrated loudness in LUFS (e.g. -23.0).

    Raises:
        ValueError: If both targets are given or a target is not a finite number.
    """

    def __init__(
        self,
        peak_db: float | None = None,
        lufs: float | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name)
        if peak_db is not None and lufs is not None:
            raise ValueError(
                "Normalize: give either peak_db or lufs, not both "
                f"(got peak_db={peak_db!r}, lufs={lufs!r})"
            )
        if peak_db is not None:
            check_number("Normalize", "peak_db", peak_db)
        if lufs is not None:
            check_number("Normalize", "lufs", lufs)
        if peak_db is None and lufs is None:
            peak_db = -1.0
        self.peak_db = None if peak_db is None else float(peak_db)
        self.lufs = None if lufs is None else float(lufs)

    def gain(self, frame: AudioFrame) -> float:
        """The linear gain this node applies to ``frame`` (1.0 for silence)."""
        if self.lufs is not None:
            measured = integrated_loudness(frame)
            if not math.isfinite(measured):
                return 1.0
            return float(10.0 ** ((self.lufs - measured) / 20.0))
        peak = float(np.max(np.abs(frame.samples))) if frame.num_samples else 0.0
        if peak == 0.0:
            return 1.0
        assert self.peak_db is not None
        return float(10.0 ** (self.peak_db / 20.0) / peak)

    def process_clip(self, clip: AudioFrame) -> Any:
        gain = self.gain(clip)
        if gain == 1.0:
            return clip
        return clip.with_samples(clip.samples * np.float32(gain))


# -- ChannelMix -----------------------------------------------------------------
@register_node
class ChannelMix(Node):
    """Converts audio to a given number of channels.

    Rules for an input with ``N`` channels: ``N == channels`` passes through;
    ``1 -> M`` duplicates the channel; ``N -> 1`` is the mean of all channels
    (float32); ``N -> M`` with ``M < N`` keeps the first ``M`` channels; ``N -> M``
    with ``M > N`` appends copies of the last channel. Stateless.

    Args:
        channels: Number of output channels (>= 1).

    Raises:
        ValueError: If ``channels`` is not a positive integer.
    """

    input_kind = "audio"
    output_kind = "audio"

    def __init__(self, channels: int = 1, name: str | None = None) -> None:
        super().__init__(name=name)
        check_number("ChannelMix", "channels", channels, positive=True, integer=True)
        self.channels = int(channels)

    def process(self, data: Any) -> Any:
        frame = require_audio(self, data)
        if frame.channels == self.channels:
            return frame
        return frame.with_samples(mix_channels(frame.samples, self.channels))


# -- Butterworth filters ----------------------------------------------------------
class _Butterworth(Node):
    """Shared streaming Butterworth filter (see HighPass/LowPass)."""

    input_kind = "audio"
    output_kind = "audio"

    _btype: str = ""

    def __init__(
        self, cutoff_hz: float, order: int = 2, name: str | None = None
    ) -> None:
        super().__init__(name=name)
        cls = type(self).__name__
        check_number(cls, "cutoff_hz", cutoff_hz, positive=True)
        check_number(cls, "order", order, integer=True)
        if not 1 <= order <= 16:
            raise ValueError(f"{cls}: order must be between 1 and 16, got {order!r}")
        self.cutoff_hz = float(cutoff_hz)
        self.order = int(order)
        self._reset()

    def _reset(self) -> None:
        self._key: tuple[int, int] | None = None
        self._sos: np.ndarray | None = None
        self._zi: np.ndarray | None = None

    def sos(self, rate: int) -> np.ndarray:
        """The filter's second-order sections at ``rate`` (scipy ``sos`` layout).

        Raises:
            ValueError: If ``cutoff_hz`` is not below ``rate / 2``.
        """
        from scipy.signal import butter

        if not 0 < self.cutoff_hz < rate / 2:
            raise ValueError(
                f"{type(self).__name__}: cutoff_hz must be between 0 and half the "
                f"sample rate ({rate / 2:g} Hz), got {self.cutoff_hz:g}"
            )
        return np.asarray(
            butter(self.order, self.cutoff_hz, self._btype, fs=rate, output="sos")
        )

    def process(self, data: Any) -> Any:
        from scipy.signal import lfilter

        frame = require_audio(self, data)
        key = (frame.sample_rate, frame.channels)
        if key != self._key:
            # A new format starts a new filter from rest.
            self._sos = self.sos(frame.sample_rate)
            self._zi = np.zeros((self._sos.shape[0], frame.channels, 2))
            self._key = key
        assert self._sos is not None and self._zi is not None
        # The cascade of lfilter calls is exactly sosfilt's recursion (direct form
        # II transposed per section, float64), without sosfilt's per-call checks
        # that cost ~4x more than the filtering on 20 ms frames.
        y: np.ndarray = frame.samples
        for index, section in enumerate(self._sos):
            y, self._zi[index] = lfilter(
                section[:3], section[3:], y, axis=-1, zi=self._zi[index]
            )
        return frame.with_samples(y.astype(np.float32))

    def flush(self) -> Any:
        self._reset()
        return None


@register_node
class HighPass(_Butterworth):
    """Removes content below a cutoff frequency (Butterworth high-pass).

    Algorithm: ``sos = scipy.signal.butter(order, cutoff_hz, "highpass",
    fs=rate, output="sos")`` (bilinear transform; order 2 is one biquad equal to
    the RBJ cookbook high-pass with ``Q = 1/sqrt(2)``), applied per channel with
    ``scipy.signal.sosfilt`` semantics (each section in direct form II transposed,
    ``y = b0*x + z0; z0 = b1*x - a1*y + z1; z1 = b2*x - a2*y``, float64 arithmetic
    and state, output rounded to float32; computed section by section with
    ``scipy.signal.lfilter``, the same recursion). The state ``zi`` starts at zero and carries
    across frames; ``flush()`` or a change of rate/channels resets it. The -3 dB
    point is ``cutoff_hz``; the stop band falls ``6 * order`` dB per octave.

    Args:
        cutoff_hz: Cutoff frequency in Hz, 0 < cutoff_hz < sample_rate / 2.
        order: Filter order (1 to 16).

    Raises:
        ValueError: If ``cutoff_hz`` is not positive or ``order`` is out of range;
            at the first frame, if ``cutoff_hz`` is not below half its rate.
    """

    _btype = "highpass"


@register_node
class LowPass(_Butterworth):
    """Removes content above a cutoff frequency (Butterworth low-pass).

    Algorithm: ``sos = scipy.signal.butter(order, cutoff_hz, "lowpass",
    fs=rate, output="sos")`` (bilinear transform; order 2 is one biquad equal to
    the RBJ cookbook low-pass with ``Q = 1/sqrt(2)``), applied per channel with
    ``scipy.signal.sosfilt`` semantics (each section in direct form II transposed,
    ``y = b0*x + z0; z0 = b1*x - a1*y + z1; z1 = b2*x - a2*y``, float64 arithmetic
    and state, output rounded to float32; computed section by section with
    ``scipy.signal.lfilter``, the same recursion). The state ``zi`` starts at zero and carries
    across frames; ``flush()`` or a change of rate/channels resets it.

    Args:
        cutoff_hz: Cutoff frequency in Hz, 0 < cutoff_hz < sample_rate / 2.
        order: Filter order (1 to 16).

    Raises:
        ValueError: If ``cutoff_hz`` is not positive or ``order`` is out of range;
            at the first frame, if ``cutoff_hz`` is not below half its rate.
    """

    _btype = "lowpass"


# -- Rebuffer -------------------------------------------------------------------
@register_node
class Rebuffer(Node):
    """Re-chunks an audio stream into frames of a fixed duration.

    Each output holds exactly ``round(rate * frame_ms / 1000)`` samples; input
    samples are queued until a whole frame is available, so one input may yield
    zero, one or several frames (returned as ``rm.Outputs``). ``flush()`` emits the
    remainder (shorter) if any and resets. A change of sample rate or channel count
    flushes the queued samples first. An output's timestamp is that of the first
    queued input sample: the timestamp of the input that started the queue plus
    the samples emitted since divided by the rate.

    Args:
        frame_ms: Output frame duration in milliseconds.

    Raises:
        ValueError: If ``frame_ms`` is not positive; at the first frame, if it is
            shorter than one sample.
    """

    input_kind = "audio"
    output_kind = "audio"
    emits = "items"

    def __init__(self, frame_ms: float = 20.0, name: str | None = None) -> None:
        super().__init__(name=name)
        check_number("Rebuffer", "frame_ms", frame_ms, positive=True)
        self.frame_ms = float(frame_ms)
        self._reset()

    def _reset(self) -> None:
        self._pending: np.ndarray | None = None
        self._rate = 0
        self._t0 = 0.0
        self._emitted = 0

    def _remainder(self) -> AudioFrame | None:
        pending, rate = self._pending, self._rate
        t = self._t0 + self._emitted / rate if rate else 0.0
        self._reset()
        if pending is None or pending.shape[1] == 0:
            return None
        return AudioFrame(pending, rate, t)

    def process(self, data: Any) -> Any:
        frame = require_audio(self, data)
        outputs = Outputs()
        pending = self._pending
        if pending is not None and (
            frame.sample_rate != self._rate or frame.channels != pending.shape[0]
        ):
            tail = self._remainder()
            if tail is not None:
                outputs.append(tail)
            pending = None
        size = frame_samples(frame.sample_rate, self.frame_ms)
        if size < 1:
            raise ValueError(
                f"Rebuffer: frame_ms={self.frame_ms:g} is shorter than one sample "
                f"at {frame.sample_rate} Hz"
            )
        if pending is None or pending.shape[1] == 0:
            buffer = frame.samples
            self._rate, self._t0, self._emitted = frame.sample_rate, frame.timestamp, 0
        else:
            buffer = np.concatenate([pending, frame.samples], axis=1)
        full = buffer.shape[1] // size
        rate = self._rate
        for index in range(full):
            chunk = buffer[:, index * size : (index + 1) * size]
            t = self._t0 + self._emitted / rate
            outputs.append(AudioFrame(np.ascontiguousarray(chunk), rate, t))
            self._emitted += size
        # Copy the rest so the queue never pins the caller's (possibly large) array.
        self._pending = buffer[:, full * size :].copy()
        return outputs

    def flush(self) -> Any:
        return self._remainder()


# -- generators -----------------------------------------------------------------
class _Generator(Source):
    """Shared framing of the test-signal sources."""

    output_kind = "audio"

    def __init__(
        self,
        duration_s: float,
        sample_rate: int,
        frame_ms: float,
        amplitude: float,
        name: str | None,
    ) -> None:
        super().__init__(name=name)
        cls = type(self).__name__
        check_number(cls, "duration_s", duration_s, minimum=0.0)
        check_sample_rate(cls, "sample_rate", sample_rate)
        check_number(cls, "frame_ms", frame_ms, positive=True)
        check_number(cls, "amplitude", amplitude, minimum=0.0)
        self.duration_s = float(duration_s)
        self.sample_rate = int(sample_rate)
        self.frame_ms = float(frame_ms)
        self.amplitude = float(amplitude)
        self._size = frame_samples(self.sample_rate, self.frame_ms)
        if self._size < 1:
            raise ValueError(
                f"{cls}: frame_ms={frame_ms!r} is shorter than one sample at "
                f"{sample_rate} Hz"
            )

    def _blocks(self) -> Iterator[tuple[int, int]]:
        total = int(round(self.duration_s * self.sample_rate))
        for start in range(0, total, self._size):
            yield start, min(self._size, total - start)

    def _signal(self, start: int, count: int) -> np.ndarray:
        raise NotImplementedError

    def frames(self) -> Iterator[AudioFrame]:
        self._begin()
        for start, count in self._blocks():
            samples = self._signal(start, count).astype(np.float32)
            yield AudioFrame(
                samples.reshape(1, -1), self.sample_rate, start / self.sample_rate
            )

    def _begin(self) -> None:
        """Resets the generator state at the start of each run."""


@register_node
class ToneSource(_Generator):
    """Generates a mono sine tone, in frames.

    Sample ``k`` (counted from the start of the stream) is
    ``amplitude * sin(2 * pi * freq_hz * k / sample_rate)``, computed in double
    precision, so the phase is continuous across frames. Frames hold
    ``round(sample_rate * frame_ms / 1000)`` samples (the last may be shorter);
    ``round(duration_s * sample_rate)`` samples in all; timestamps start at 0.

    Args:
        freq_hz: Tone frequency in Hz.
        duration_s: Length of the stream in seconds.
        sample_rate: Sample rate in Hz.
        frame_ms: Frame duration in milliseconds.
        amplitude: Peak amplitude (1.0 is full scale).

    Raises:
        ValueError: If a parameter is out of range.
    """

    def __init__(
        self,
        freq_hz: float = 440.0,
        duration_s: float = 1.0,
        sample_rate: int = 48000,
        frame_ms: float = 20.0,
        amplitude: float = 0.5,
        name: str | None = None,
    ) -> None:
        super().__init__(duration_s, sample_rate, frame_ms, amplitude, name)
        check_number("ToneSource", "freq_hz", freq_hz, minimum=0.0)
        self.freq_hz = float(freq_hz)

    def _signal(self, start: int, count: int) -> np.ndarray:
        k = np.arange(start, start + count, dtype=np.float64)
        return self.amplitude * np.sin(
            2.0 * np.pi * self.freq_hz * k / self.sample_rate
        )


@register_node
class NoiseSource(_Generator):
    """Generates seeded mono white noise, in frames.

    Samples are ``amplitude * u`` with ``u`` uniform in [-1, 1) drawn from
    ``numpy.random.default_rng(seed)``, re-seeded at the start of every run so that
    each run yields the same samples. Framing as :class:`ToneSource`.

    Args:
        duration_s: Length of the stream in seconds.
        sample_rate: Sample rate in Hz.
        frame_ms: Frame duration in milliseconds.
        amplitude: Peak amplitude (1.0 is full scale).
        seed: Seed of the random generator.

    Raises:
        ValueError: If a parameter is out of range.
    """

    def __init__(
        self,
        duration_s: float = 1.0,
        sample_rate: int = 48000,
        frame_ms: float = 20.0,
        amplitude: float = 0.1,
        seed: int = 0,
        name: str | None = None,
    ) -> None:
        super().__init__(duration_s, sample_rate, frame_ms, amplitude, name)
        check_number("NoiseSource", "seed", seed, minimum=0, integer=True)
        self.seed = int(seed)
        self._rng = np.random.default_rng(self.seed)

    def _begin(self) -> None:
        self._rng = np.random.default_rng(self.seed)

    def _signal(self, start: int, count: int) -> np.ndarray:
        return self.amplitude * self._rng.uniform(-1.0, 1.0, count)
