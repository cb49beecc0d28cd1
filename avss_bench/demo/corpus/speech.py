"""Speech-like audio: a formant synthesiser with per-speaker voices and random syllables.

Each utterance is a random sequence of (C)V(C) syllables grouped into words, spoken at the
speaker's rate with pauses between some words. The source is a band-limited harmonic voice
(per-speaker pitch, declination, word accents, slow jitter) plus aspiration noise; it is shaped
by a cascade of four formant resonators whose frequencies glide between the vowel and consonant
targets of the speaker (a vocal-tract scale and a per-vowel perturbation make each speaker's
vowels their own). Fricatives and stop bursts are band-limited noise. Everything is drawn from a
`numpy.random.Generator`, so a seed fixes every sample.

This is not speech, but it has what a separator needs to tell two talkers apart (pitch,
formants, syllable rhythm) and an amplitude envelope that the face animation follows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.signal import istft, stft

from avss_bench.core.constants import SAMPLE_RATE

__all__ = [
    "SpeakerVoice",
    "Utterance",
    "frame_envelope",
    "make_voice",
    "synthesize_utterance",
]

_CTRL_HOP = 80  # control-track resolution: 5 ms at 16 kHz
_NFFT = 512
_HOP = 128

# Adult-male vowel formants F1..F3 in Hz (Peterson & Barney 1952), with a spelling for the
# transcript and an "openness" (jaw opening, used only for relative loudness).
_VOWELS: dict[str, tuple[str, float, float, float]] = {
    "IY": ("EE", 270, 2290, 3010),
    "IH": ("I", 390, 1990, 2550),
    "EH": ("E", 530, 1840, 2480),
    "AE": ("A", 660, 1720, 2410),
    "AA": ("AH", 730, 1090, 2440),
    "AO": ("AW", 570, 840, 2410),
    "UH": ("OO", 440, 1020, 2240),
    "UW": ("U", 300, 870, 2240),
    "AH": ("U", 640, 1190, 2390),
    "ER": ("ER", 490, 1350, 1690),
    "OW": ("O", 500, 900, 2350),
}
_VOWEL_KEYS = list(_VOWELS)


@dataclass(frozen=True)
class _Consonant:
    spelling: str
    kind: str  # "stop", "fric", "nasal", "approx"
    voiced: bool
    band: tuple[float, float] = (0.0, 0.0)  # noise band (Hz) for bursts and fricatives
    formants: tuple[float, float, float] = (0.0, 0.0, 0.0)  # locus for voiced consonants


_CONSONANTS: list[_Consonant] = [
    _Consonant("P", "stop", False, (500, 1800)),
    _Consonant("T", "stop", False, (3000, 6500)),
    _Consonant("K", "stop", False, (1500, 3200)),
    _Consonant("B", "stop", True, (500, 1800), (250, 800, 2200)),
    _Consonant("D", "stop", True, (3000, 6000), (250, 1700, 2600)),
    _Consonant("G", "stop", True, (1500, 3200), (250, 2000, 2300)),
    _Consonant("S", "fric", False, (4500, 7600)),
    _Consonant("SH", "fric", False, (2200, 5000)),
    _Consonant("F", "fric", False, (1200, 7500)),
    _Consonant("H", "fric", False, (0, 0)),  # aspiration shaped by the next vowel
    _Consonant("Z", "fric", True, (4500, 7600), (250, 1600, 2600)),
    _Consonant("V", "fric", True, (1200, 7500), (250, 1100, 2300)),
    _Consonant("M", "nasal", True, formants=(250, 1100, 2300)),
    _Consonant("N", "nasal", True, formants=(250, 1700, 2600)),
    _Consonant("L", "approx", True, formants=(360, 1300, 2700)),
    _Consonant("R", "approx", True, formants=(420, 1300, 1600)),
    _Consonant("W", "approx", True, formants=(300, 610, 2200)),
    _Consonant("Y", "approx", True, formants=(260, 2070, 3020)),
]
_CODA = [c for c in _CONSONANTS if c.spelling in {"T", "K", "S", "N", "M", "L", "R", "D"}]


@dataclass(frozen=True)
class SpeakerVoice:
    """The parameters of one synthetic speaker's voice (all drawn by `make_voice`)."""

    f0_hz: float  # mean pitch
    accent: float  # relative pitch rise on accented syllables
    formant_scale: float  # vocal-tract scale (1 = adult male table, ~1.17 = adult female)
    vowel_shift: tuple[tuple[float, float, float], ...]  # per-vowel relative formant offsets
    bandwidth_scale: float
    tilt: float  # harmonic amplitude ~ k^-tilt
    breathiness: float  # aspiration noise relative to voicing
    rate_syl_s: float  # syllables per second while talking
    pause_prob: float  # probability of a pause after a word
    vowel_weights: tuple[float, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, float]:
        """The scalar parameters, rounded, for summaries."""
        return {
            "f0_hz": round(self.f0_hz, 2),
            "formant_scale": round(self.formant_scale, 4),
            "rate_syl_s": round(self.rate_syl_s, 3),
            "breathiness": round(self.breathiness, 4),
        }


@dataclass(frozen=True)
class Utterance:
    """A synthesised utterance: float32 samples in [-1, 1] and the made-up words spoken."""

    audio: np.ndarray
    words: list[str]
    sample_rate: int = SAMPLE_RATE

    @property
    def text(self) -> str:
        return " ".join(self.words)


def make_voice(rng: np.random.Generator, f0_hz: float) -> SpeakerVoice:
    """Draw a voice around a given mean pitch (the vocal-tract scale follows the pitch)."""
    # Lower pitch ~ longer vocal tract: map 90..250 Hz onto a scale of about 0.9..1.2.
    pos = float(np.clip(np.log(f0_hz / 90.0) / np.log(250.0 / 90.0), 0.0, 1.0))
    formant_scale = 0.9 + 0.3 * pos + rng.uniform(-0.04, 0.04)
    shifts = tuple(tuple(float(v) for v in rng.uniform(-0.07, 0.07, size=3)) for _ in _VOWEL_KEYS)
    weights = rng.dirichlet(np.full(len(_VOWEL_KEYS), 2.0))
    return SpeakerVoice(
        f0_hz=float(f0_hz),
        accent=float(rng.uniform(0.08, 0.25)),
        formant_scale=float(formant_scale),
        vowel_shift=shifts,
        bandwidth_scale=float(rng.uniform(0.8, 1.3)),
        tilt=float(rng.uniform(0.8, 1.3)),
        breathiness=float(rng.uniform(0.02, 0.10)),
        rate_syl_s=float(rng.uniform(3.5, 5.5)),
        pause_prob=float(rng.uniform(0.2, 0.45)),
        vowel_weights=tuple(float(w) for w in weights),
    )


def _formant_targets(voice: SpeakerVoice, vowel: str) -> np.ndarray:
    _, f1, f2, f3 = _VOWELS[vowel]
    shift = np.asarray(voice.vowel_shift[_VOWEL_KEYS.index(vowel)])
    f = np.array([f1, f2, f3], dtype=np.float64) * (1.0 + shift) * voice.formant_scale
    return np.append(f, 3500.0 * voice.formant_scale)  # F4


def _locus(voice: SpeakerVoice, cons: _Consonant, vowel_f: np.ndarray) -> np.ndarray:
    if cons.formants[0] > 0:
        f = np.array(cons.formants, dtype=np.float64) * voice.formant_scale
        return np.append(f, vowel_f[3])
    return vowel_f.copy()


class _Tracks:
    """Control tracks at 5 ms resolution, filled segment by segment."""

    def __init__(self, n_ctrl: int, neutral: np.ndarray) -> None:
        self.voice_amp = np.zeros(n_ctrl)
        self.asp_amp = np.zeros(n_ctrl)  # aspiration through the formants
        self.fric_amp = np.zeros(n_ctrl)  # band-limited noise
        self.fric_lo = np.full(n_ctrl, 2000.0)
        self.fric_hi = np.full(n_ctrl, 6000.0)
        self.formants = np.tile(neutral, (n_ctrl, 1))
        self.accent = np.zeros(n_ctrl)
        self.n = n_ctrl

    def span(self, t0: float, t1: float) -> slice:
        a = int(round(t0 * SAMPLE_RATE / _CTRL_HOP))
        b = int(round(t1 * SAMPLE_RATE / _CTRL_HOP))
        return slice(max(0, min(a, self.n)), max(0, min(b, self.n)))


def _ramp(n: int, attack: int, release: int) -> np.ndarray:
    """A plateau of length n with raised-cosine attack and release (in control steps)."""
    env = np.ones(n)
    a = min(max(attack, 0), n)
    r = min(max(release, 0), n - a)
    if a > 0:
        env[:a] = np.sin(np.linspace(0.0, np.pi / 2, a + 1)[1:]) ** 2
    if r > 0:
        env[n - r :] *= np.cos(np.linspace(0.0, np.pi / 2, r + 1)[1:]) ** 2
    return env


def _plan(voice: SpeakerVoice, duration_s: float, rng: np.random.Generator, tracks: _Tracks):
    """Lay out words and syllables on the control tracks; return the spelled words."""
    words: list[str] = []
    t = float(rng.uniform(0.05, 0.25))  # leading silence
    end = duration_s - float(rng.uniform(0.05, 0.15))
    weights = np.asarray(voice.vowel_weights)
    mean_syl = 1.0 / voice.rate_syl_s
    prev_vowel_f = _formant_targets(voice, "AH")
    while t < end - 0.6 * mean_syl:
        n_syl = int(rng.choice([1, 2, 2, 3, 3, 4]))
        accented = int(rng.integers(0, n_syl))
        spelled = ""
        for k in range(n_syl):
            dur = mean_syl * float(np.exp(rng.normal(0.0, 0.22)))
            if t + 0.6 * dur > end:
                break
            dur = min(dur, end - t)
            vowel = _VOWEL_KEYS[int(rng.choice(len(_VOWEL_KEYS), p=weights))]
            onset = (
                _CONSONANTS[int(rng.integers(len(_CONSONANTS)))] if rng.random() < 0.85 else None
            )
            coda = _CODA[int(rng.integers(len(_CODA)))] if rng.random() < 0.25 else None
            vf = _formant_targets(voice, vowel)
            spelled += (onset.spelling if onset else "") + _VOWELS[vowel][0]
            spelled += coda.spelling if coda else ""
            _syllable(voice, tracks, t, dur, onset, vf, coda, prev_vowel_f, k == accented, rng)
            prev_vowel_f = vf
            t += dur
        if spelled:
            words.append(spelled)
        if rng.random() < voice.pause_prob:
            t += float(rng.uniform(0.08, 0.28))
        else:
            t += float(rng.uniform(0.0, 0.03))
    return words


def _syllable(voice, tracks, t0, dur, onset, vf, coda, prev_vf, accented, rng) -> None:
    hop_s = _CTRL_HOP / SAMPLE_RATE
    c_dur = 0.0
    if onset is not None:
        c_dur = {"stop": 0.30, "fric": 0.35, "nasal": 0.28, "approx": 0.25}[onset.kind] * dur
    coda_dur = 0.22 * dur if coda is not None else 0.0
    v0, v1 = t0 + c_dur, t0 + dur - coda_dur
    loud = float(rng.uniform(0.75, 1.0)) * (1.25 if accented else 1.0)
    loud *= 0.7 + 0.3 * min(1.0, vf[0] / (700.0 * voice.formant_scale))  # open vowels louder

    # Vowel nucleus: formants glide from the consonant locus (or previous vowel) to the target.
    sl = tracks.span(v0, v1)
    n = sl.stop - sl.start
    if n > 0:
        start_f = _locus(voice, onset, vf) if onset is not None else prev_vf
        glide = min(n, max(1, int(0.06 / hop_s)))
        w = np.ones(n)
        w[:glide] = np.linspace(0.0, 1.0, glide)
        tracks.formants[sl] = start_f[None, :] * (1 - w[:, None]) + vf[None, :] * w[:, None]
        tracks.voice_amp[sl] = loud * _ramp(n, max(1, int(0.025 / hop_s)), int(0.05 / hop_s))
        tracks.asp_amp[sl] = voice.breathiness * tracks.voice_amp[sl]
        if accented:
            tracks.accent[sl] = np.sin(np.linspace(0.0, np.pi, n))
    if onset is not None:
        _consonant(voice, tracks, t0, v0, onset, vf, rng)
    if coda is not None:
        _consonant(voice, tracks, v1, t0 + dur, coda, vf, rng, coda=True)


def _consonant(voice, tracks, t0, t1, cons, vf, rng, coda: bool = False) -> None:
    sl = tracks.span(t0, t1)
    n = sl.stop - sl.start
    if n <= 0:
        return
    hop_s = _CTRL_HOP / SAMPLE_RATE
    locus = _locus(voice, cons, vf)
    tracks.formants[sl] = locus[None, :]
    lo, hi = cons.band
    if cons.kind == "stop":
        closure = max(1, int(0.6 * n))
        burst = max(1, min(n - closure, int(0.015 / hop_s))) if n > closure else 0
        if cons.voiced:  # voice bar during closure
            tracks.voice_amp[sl.start : sl.start + closure] = 0.08
        b = slice(sl.start + closure, sl.start + closure + burst)
        tracks.fric_amp[b] = 0.5
        tracks.fric_lo[b], tracks.fric_hi[b] = lo, hi
        if not cons.voiced and not coda:  # aspiration into the vowel
            a = slice(b.stop, sl.stop)
            tracks.asp_amp[a] = 0.35 * np.linspace(1.0, 0.3, a.stop - a.start)
    elif cons.kind == "fric":
        env = _ramp(n, max(1, int(0.02 / hop_s)), max(1, int(0.02 / hop_s)))
        if lo == 0:  # H: breathy onset through the vowel's formants
            tracks.asp_amp[sl] = 0.4 * env
            tracks.formants[sl] = vf[None, :]
        else:
            tracks.fric_amp[sl] = (0.35 if cons.spelling in ("S", "SH", "Z") else 0.15) * env
            tracks.fric_lo[sl], tracks.fric_hi[sl] = lo, hi
        if cons.voiced:
            tracks.voice_amp[sl] = 0.3 * env
    else:  # nasal / approximant: quieter voicing at the consonant's locus
        level = 0.3 if cons.kind == "nasal" else 0.55
        tracks.voice_amp[sl] = level * _ramp(
            n, max(1, int(0.02 / hop_s)), max(1, int(0.02 / hop_s))
        )
        tracks.asp_amp[sl] = voice.breathiness * tracks.voice_amp[sl]


def _smooth(x: np.ndarray, width: int) -> np.ndarray:
    if width <= 1:
        return x
    k = np.hanning(width + 2)[1:-1]
    k /= k.sum()
    pad = width // 2
    if x.ndim == 1:
        return np.convolve(np.pad(x, pad, mode="edge"), k, mode="same")[pad : pad + len(x)]
    return np.stack([_smooth(x[:, j], width) for j in range(x.shape[1])], axis=1)


def _upsample(track: np.ndarray, n: int) -> np.ndarray:
    pos = (np.arange(n) + 0.5) / _CTRL_HOP - 0.5
    return np.interp(pos, np.arange(len(track)), track)


def _resonators(freqs: np.ndarray, formants: np.ndarray, bws: np.ndarray) -> np.ndarray:
    """Magnitude response of cascaded second-order resonators (unit gain at DC).

    freqs: [K]; formants, bws: [T, M] -> [T, K].
    """
    f = freqs[None, None, :]
    fc = formants[:, :, None]
    hb = bws[:, :, None] / 2.0
    num = fc**2 + hb**2
    den = np.sqrt(((f - fc) ** 2 + hb**2) * ((f + fc) ** 2 + hb**2))
    return np.prod(num / den, axis=1)


def synthesize_utterance(
    voice: SpeakerVoice,
    duration_s: float,
    rng: np.random.Generator,
    sample_rate: int = SAMPLE_RATE,
) -> Utterance:
    """Synthesise one utterance of exactly `round(duration_s * sample_rate)` samples.

    Args:
        voice: the speaker (see `make_voice`).
        duration_s: length in seconds.
        rng: the source of all randomness (syllables, timing, noise).
        sample_rate: must be 16000 (the formant tables and noise bands assume it).

    Returns:
        An `Utterance` with float32 audio at an active level of about -23 dBFS and its words.

    Shape:
        audio: `[round(duration_s * 16000)]`.
    """
    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"only {SAMPLE_RATE} Hz is supported, got {sample_rate}")
    n = int(round(duration_s * sample_rate))
    n_ctrl = n // _CTRL_HOP + 2
    neutral = _formant_targets(voice, "AH")
    tracks = _Tracks(n_ctrl, neutral)
    words = _plan(voice, duration_s, rng, tracks)

    # Smooth the articulation a little (coarticulation) and bring the tracks to audio rate.
    formants = _smooth(tracks.formants, 5)
    voice_amp = _upsample(_smooth(tracks.voice_amp, 3), n)
    asp_amp = _upsample(_smooth(tracks.asp_amp, 3), n)
    fric_amp = _upsample(_smooth(tracks.fric_amp, 2), n)

    # Pitch: declination, word accents, slow jitter; a little cycle-to-cycle noise.
    t_ctrl = np.arange(n_ctrl) * _CTRL_HOP / sample_rate
    declination = 1.08 - 0.16 * t_ctrl / max(duration_s, 1e-3)
    drift = _smooth(rng.normal(0.0, 0.03, n_ctrl), 41) * 3.0
    f0_ctrl = voice.f0_hz * declination * (1.0 + voice.accent * _smooth(tracks.accent, 9) + drift)
    f0 = _upsample(f0_ctrl, n) * (1.0 + 0.004 * rng.standard_normal(n))
    phase = 2.0 * np.pi * np.cumsum(f0) / sample_rate
    phase += rng.uniform(0, 2 * np.pi)

    # Band-limited harmonic source (glottal flow derivative: ~k^-tilt), harmonics faded out
    # below 7.6 kHz; sin(k*phase) by the Chebyshev recurrence (no per-harmonic sin()).
    n_harm = int(7600.0 / float(np.min(f0))) + 1
    source = np.zeros(n)
    s_prev, s_cur = np.zeros(n), np.sin(phase)
    c2 = 2.0 * np.cos(phase)
    for k in range(1, n_harm + 1):
        fade = np.clip((7600.0 - k * f0) / 600.0, 0.0, 1.0)
        source += fade * s_cur / k**voice.tilt
        s_prev, s_cur = s_cur, c2 * s_cur - s_prev
    source /= np.sqrt(np.mean(source**2)) + 1e-12
    aspiration = rng.standard_normal(n)
    # Aspiration is louder in the open phase of each glottal cycle.
    aspiration *= 0.6 + 0.4 * np.cos(phase)
    excitation = voice_amp * source + asp_amp * aspiration * 2.0
    frication = fric_amp * rng.standard_normal(n)

    # Time-varying filtering in the STFT domain.
    freqs, _, exc_spec = stft(excitation, fs=sample_rate, nperseg=_NFFT, noverlap=_NFFT - _HOP)
    _, _, fric_spec = stft(frication, fs=sample_rate, nperseg=_NFFT, noverlap=_NFFT - _HOP)
    n_frames = exc_spec.shape[1]
    frame_t = np.arange(n_frames) * _HOP / sample_rate
    fm = np.stack([np.interp(frame_t, t_ctrl, formants[:, j]) for j in range(4)], axis=1)
    base_bw = np.array([60.0, 90.0, 150.0, 200.0]) * voice.bandwidth_scale
    bws = base_bw[None, :] * (1.0 + fm / 4000.0)
    vt = _resonators(freqs, fm, bws)
    vt *= (1.0 + freqs / 300.0)[None, :] ** 0.5  # lip radiation, mildly
    lo = np.interp(frame_t, t_ctrl, tracks.fric_lo)[:, None]
    hi = np.interp(frame_t, t_ctrl, tracks.fric_hi)[:, None]
    f = freqs[None, :]
    band = 1.0 / (1.0 + np.exp(-(f - lo) / 150.0)) / (1.0 + np.exp((f - hi) / 300.0))
    spec = exc_spec * vt.T + fric_spec * (3.0 * band.T)
    _, y = istft(spec, fs=sample_rate, nperseg=_NFFT, noverlap=_NFFT - _HOP)
    y = np.asarray(y[:n], dtype=np.float64)
    if len(y) < n:
        y = np.pad(y, (0, n - len(y)))
    y = y - np.mean(y)

    # Level: active RMS (frames above -40 dB of the peak frame) to about -23 dBFS, plus a
    # faint room-tone floor so that silences are not digital zero.
    frame_rms = np.sqrt(np.mean(y[: n // 160 * 160].reshape(-1, 160) ** 2, axis=1) + 1e-20)
    active = frame_rms > frame_rms.max() * 10 ** (-40 / 20)
    level = np.sqrt(np.mean(frame_rms[active] ** 2)) if active.any() else 1.0
    gain_db = float(rng.uniform(-2.0, 2.0))
    y *= 10 ** ((-23.0 + gain_db) / 20) / (level + 1e-12)
    y += 10 ** (-70 / 20) * rng.standard_normal(n)
    peak = np.max(np.abs(y))
    if peak > 0.95:
        y *= 0.95 / peak
    return Utterance(audio=y.astype(np.float32), words=words, sample_rate=sample_rate)


def frame_envelope(
    audio: np.ndarray, sample_rate: int, fps: float, n_frames: int, window_s: float = 0.04
) -> np.ndarray:
    """RMS of the audio around each video frame's centre (a 25-fps amplitude envelope).

    Shape:
        audio: `[N]` -> `[n_frames]`.
    """
    x = np.asarray(audio, dtype=np.float64)
    half = int(round(window_s * sample_rate / 2))
    centres = np.round((np.arange(n_frames) + 0.5) * sample_rate / fps).astype(int)
    padded = np.pad(x, half)
    csum = np.concatenate([[0.0], np.cumsum(padded**2)])
    lo = np.clip(centres, 0, len(x))
    hi = np.clip(centres + 2 * half, 0, len(x) + 2 * half)
    return np.sqrt((csum[hi] - csum[lo]) / np.maximum(hi - lo, 1))
