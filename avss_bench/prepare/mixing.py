"""Exact port of the standard 2-speaker mixing recipe (the law every official list follows).

The LRS2/LRS3/VoxCeleb2-2Mix lists were mixed by MERL's `create_wav_2speakers.m` (the wsj0-2mix
script) with voicebox `activlev.m` (ITU-T P.56 active speech level, rev 9407). For one list line
`<s1> <g1> <s2> <g2>`:

1. each source `x` (first 2.0 s, 16 kHz, `int16 / 32768`) gets an 8 kHz copy made with MATLAB's
   `resample(x, 8000, 16000)` = `scipy.signal.resample_poly(x, 1, 2)`;
2. `lev = activlev(x8k, 8000, 'n')` (power; only the 200 Hz high-pass runs at 8 kHz, 0.35 s of
   zeros are appended);
3. the 16 kHz source is scaled: `s = 10^(g/20) * x / sqrt(lev)`;
4. both are truncated to the shorter ('min' mode), `mix = s1 + s2`;
5. all three are multiplied by `(1 / max(|mix|, |s1|, |s2|)) * 0.9`;
6. written as `int16(round(32768 * y))` (round half away from zero).

The output name is `<base1>_<num2str(g1)>_<base2>_<num2str(g2)>`; MATLAB's `num2str` prints
these gains as `%.5g` (integers as integers). The gain string is parsed as a correctly rounded
double, as MATLAB's `str2double` does. Against the Octave run of the original scripts in
`../shared/data/mixing` this port is within 1 LSB (0 LSB observed) and 1e-12 dB on levels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import maximum_filter1d
from scipy.signal import lfilter, resample_poly

from avss_bench.io.audio import to_int16

PEAK = 0.9
NBIN = 20  # 60 dB range at 3 dB per bin
THRESH_DB = 15.9  # P.56 threshold (margin) in dB
# s-plane zeros (row 0) and poles (row 1) of the 5th-order Chebyshev-2 high-pass, w0 = 1.
_C25ZP = np.array([
    [0.0, 0.37843443673309j, 0.23388534441447j, -0.37843443673309j, -0.23388534441447j],
    [-0.66793268833792, -0.20640255179496 + 0.73942185906851j,
     -0.54036889596392 + 0.45698784092898j, -0.20640255179496 - 0.73942185906851j,
     -0.54036889596392 - 0.45698784092898j],
], dtype=np.complex128)


@dataclass(frozen=True)
class ActiveLevel:
    """ITU-T P.56 active speech level of one signal (activlev outputs)."""

    power: float  # active level as a power (0 for digital silence)
    activity: float  # activity factor in [0, 1]
    longterm_power: float  # mean power including the 0.35 s of appended zeros

    @property
    def db(self) -> float:
        return 10.0 * math.log10(self.power) if self.power > 0 else -math.inf


def _highpass_sections(fs: float, fl: float = 200.0) -> list[tuple[np.ndarray, np.ndarray]]:
    """The HPF of activlev rev 9407 as (b, a) sections: a real pole/zero and two biquads."""
    zl = 2.0 / (1.0 - _C25ZP * math.tan(fl * math.pi / fs)) - 1.0  # bilinear transform
    abl = np.column_stack([
        np.ones(2, dtype=np.complex128), -zl[:, 0], -2 * np.real(zl[:, 1:3]),
        np.abs(zl[:, 1:3]) ** 2,
    ]).real  # [1, -z0, -2re(z1), -2re(z2), |z1|^2, |z2|^2] per row (zeros, poles)
    hfg = ((abl @ np.array([1, -1, 0, 0, 0, 0.0]))
           * (abl @ np.array([1, 0, -1, 0, 1, 0.0]))
           * (abl @ np.array([1, 0, 0, -1, 0, 1.0])))
    abl = abl[:, [0, 1, 0, 2, 4, 0, 3, 5]]  # reorder into sections
    abl[0, 0:2] = abl[0, 0:2] * hfg[1] / hfg[0]  # force the Nyquist gain to 1
    return [(abl[0, 0:2], abl[1, 0:2]), (abl[0, 2:5], abl[1, 2:5]), (abl[0, 5:8], abl[1, 5:8])]


def _lowpass(fs: float, fh: float = 5500.0) -> tuple[np.ndarray, np.ndarray]:
    """The 5.5 kHz low-pass of activlev (direct form, as the .m builds it with `poly`)."""
    zh = 2.0 / (_C25ZP / math.tan(fh * math.pi / fs) - 1.0) + 1.0
    ah = np.real(np.poly(zh[1]))
    bh = np.real(np.poly(zh[0]))
    return bh * np.sum(ah) / np.sum(bh), ah


_FILTER_CACHE: dict[float, list[tuple[np.ndarray, np.ndarray]]] = {}


def _filters(fs: float) -> list[tuple[np.ndarray, np.ndarray]]:
    sections = _FILTER_CACHE.get(fs)
    if sections is None:
        sections = _highpass_sections(fs)
        if fs >= 5500 * 2.2:  # below this rate activlev drops the low-pass ('h')
            sections.append(_lowpass(fs))
        _FILTER_CACHE[fs] = sections
    return sections


def activlev(x: np.ndarray, fs: float = 8000.0) -> ActiveLevel:
    """P.56 active speech level exactly as voicebox `activlev(x, fs, 'n')` (rev 9407) computes it.

    The 200 Hz Chebyshev-2 high-pass runs as three sections; the 5.5 kHz low-pass only at rates
    of 12.1 kHz and above (the recipe measures at 8 kHz, where it is skipped).

    Args:
        x: the signal, float `[T]`.
        fs: its sample rate in Hz.

    Returns:
        the level as a power (0 for digital silence), the activity factor and the long-term power.
    """
    sp = np.asarray(x, dtype=np.float64).reshape(-1)
    nz = math.ceil(0.35 * fs)  # zeros appended (no 'z' option)
    sp = np.concatenate([sp, np.zeros(nz)])
    ns = sp.size
    sq = sp
    for b, a in _filters(fs):
        sq = lfilter(b, a, sq)
    ssq = float(np.sum(sq * sq))
    if not ssq > 0:
        return ActiveLevel(0.0, 0.0, 0.0)
    ti = 1.0 / fs
    g = math.exp(-ti / 0.03)  # envelope filter pole
    ae = np.array([1.0, -2 * g, g * g]) / (1 - g) ** 2
    s = lfilter([1.0], ae, np.abs(sq))
    qf, qe = np.frexp(s * s)  # s^2 = qf * 2^qe, 0.5 <= qf < 1
    qe = qe.astype(np.float64)
    qe[qf == 0] = -np.inf
    nh = math.ceil(0.2 / ti) + 1  # 0.2 s hangover
    qe = _trailing_max(qe, nh)
    emax = float(np.max(qe)) + 1
    if emax == -math.inf:
        return ActiveLevel(0.0, 0.0, ssq / ns)
    bins = np.minimum(emax - qe, NBIN).astype(np.int64)  # 1..NBIN
    kc = np.cumsum(np.bincount(bins, minlength=NBIN + 1)[1:NBIN + 1]).astype(np.float64)
    with np.errstate(divide="ignore"):
        aj = 10 * np.log10(ssq / kc)
    cj = 10 * math.log10(2) * (emax - np.arange(1, NBIN + 1) - 1)
    mj = aj - cj - THRESH_DB
    cross = np.nonzero((mj[:-1] < 0) & (mj[1:] >= 0))[0]
    if cross.size == 0:
        if mj[-1] <= 0:
            jj, jf = NBIN - 2, 1.0  # threshold at the bottom of the lowest bin
        else:
            jj, jf = 0, 0.0
    else:
        jj = int(cross[0])
        jf = 1.0 / (1.0 - mj[jj + 1] / mj[jj])
    lev_db = aj[jj] + jf * (aj[jj + 1] - aj[jj])
    lp = 10.0 ** (lev_db / 10.0)
    return ActiveLevel(float(lp), float(ssq / (ns * lp)), ssq / ns)


def _trailing_max(x: np.ndarray, n: int) -> np.ndarray:
    """`y[p] = max(x[p-n+1 .. p])`, values before the start ignored (voicebox maxfilt, f = 1)."""
    n = min(n, x.size + 1)
    if n <= 1:
        return x.copy()
    # A window of n samples ending at p: scipy centres it; origin (n-1)//2 moves it back.
    return maximum_filter1d(x, size=n, mode="constant", cval=-np.inf, origin=(n - 1) // 2)


def level_8k(x16k: np.ndarray) -> ActiveLevel:
    """Active level of a 16 kHz source measured on its 8 kHz copy, as the recipe does."""
    return activlev(resample_poly(np.asarray(x16k, dtype=np.float64), 1, 2), 8000.0)


def parse_gain(text: str) -> float:
    """A list's gain string as a correctly rounded double (MATLAB `str2double`)."""
    return float(text)


def format_gain(gain: float) -> str:
    """MATLAB `num2str` of a gain in (-10, 10): `%.5g`, integers without decimals."""
    if float(gain).is_integer():
        return str(int(gain))  # MATLAB prints -0 as 0
    return f"{gain:.5g}"


def mixture_name(base1: str, gain1: float, base2: str, gain2: float) -> str:
    """The standard output name `<base1>_<num2str(g1)>_<base2>_<num2str(g2)>`."""
    return f"{base1}_{format_gain(gain1)}_{base2}_{format_gain(gain2)}"


@dataclass
class Mixture:
    """The three int16 signals of one mixture and the numbers that made them."""

    mix: np.ndarray
    s1: np.ndarray
    s2: np.ndarray
    weights: tuple[float, float]  # 10^(g/20)
    levels: tuple[float, float]  # activlev powers on the 8 kHz copies
    peak_scale: float  # (1 / max amplitude) * 0.9
    truncated: bool  # 'min' mode cut the longer source

    @property
    def num_samples(self) -> int:
        return int(self.mix.size)


class SilentSourceError(ValueError):
    """A source has no active speech (digital silence): the recipe would divide 0 by 0."""


def mix_pair(x1: np.ndarray, gain1: float, x2: np.ndarray, gain2: float,
             lev1: float | None = None, lev2: float | None = None) -> Mixture:
    """Mix two 16 kHz sources exactly as `create_wav_2speakers.m` in 'min' mode.

    Args:
        x1, x2: the sources as float64 `int16 / 32768`, full length (up to 2 s); the levels are
            measured on them before truncation.
        gain1, gain2: the list's gains in dB (parsed doubles).
        lev1, lev2: precomputed activlev powers (8 kHz copy); measured when None.

    Returns:
        a Mixture with int16 `mix`, `s1`, `s2` of the shorter source's length.

    Raises:
        SilentSourceError: a source's active level is 0 (the .m would write NaN -> zeros).
    """
    x1 = np.asarray(x1, dtype=np.float64)
    x2 = np.asarray(x2, dtype=np.float64)
    if lev1 is None:
        lev1 = level_8k(x1).power
    if lev2 is None:
        lev2 = level_8k(x2).power
    for k, lev in ((1, lev1), (2, lev2)):
        if not lev > 0:
            raise SilentSourceError(f"source {k} is silent (P.56 active level 0)")
    w1 = 10.0 ** (gain1 / 20.0)
    w2 = 10.0 ** (gain2 / 20.0)
    s1 = w1 * x1 / math.sqrt(lev1)
    s2 = w2 * x2 / math.sqrt(lev2)
    n = min(s1.size, s2.size)
    truncated = s1.size != s2.size
    s1 = s1[:n]
    s2 = s2[:n]
    mix = s1 + s2
    max_amp = max(np.max(np.abs(mix)), np.max(np.abs(s1)), np.max(np.abs(s2)))
    scale = 1.0 / max_amp * PEAK
    return Mixture(to_int16(scale * mix), to_int16(scale * s1), to_int16(scale * s2),
                   (w1, w2), (float(lev1), float(lev2)), float(scale), truncated)


@dataclass
class MixtureN:
    """The int16 signals of one N-source mixture under a robustness condition (`mix_sources`).

    `sources` are the references (dry sources, or the direct path + early reflections under
    reverberation); `images` the reverberant sources (= `sources` when dry); `clean` the speech
    mixture without noise and `noise` the scaled noise (None without noise).
    """

    mix: np.ndarray
    sources: list[np.ndarray]
    images: list[np.ndarray]
    clean: np.ndarray | None
    noise: np.ndarray | None
    levels: list[float]
    peak_scale: float
    noise_gain: float  # the factor applied to the raw noise segment in the written files
    speech_level: float  # P.56 power of the clean speech mixture (8 kHz copy) before peak scaling

    @property
    def num_samples(self) -> int:
        return int(self.mix.size)


def mix_sources(xs: list[np.ndarray], gains: list[float], levels: list[float | None] | None = None,
                *, rirs: list[np.ndarray] | None = None, early: list[np.ndarray] | None = None,
                noise: np.ndarray | None = None, snr_db: float | None = None) -> MixtureN:
    """Mix N 16 kHz sources by the law of `create_wav_2speakers.m` / `create_wav_3speakers.m`.

    The MERL wsj0-mix scripts (Le Roux, Hershey, Chen, 2016, Apache-2.0) mix 3 speakers exactly
    as 2: each source is scaled by `10^(g_k/20) / sqrt(activlev(x_k at 8 kHz))`, all are cut to
    the shortest ('min'), `mix = sum_k s_k`, every file is multiplied by
    `0.9 / max(|mix|, |s_1|, ..., |s_N|)`, written as int16. With N = 2 and no condition this
    gives the bytes of `mix_pair`. Robustness conditions (ours, not the recipe's):

    * reverberation (`rirs`, `early`): each source is convolved with its RIR (full: the image in
      the mixture; `early`: the reference), both cut to the source length; the P.56 level is
      measured on the reverberant image's 8 kHz copy, so the gains set the images' levels;
    * noise (`noise`, `snr_db`): the noise segment `n` (already the mixture's length) is scaled to
      `g = sqrt(L / (mean(n^2) * 10^(snr/10)))`, `L` the P.56 active level of the clean speech
      mixture on its 8 kHz copy; `mix = clean + g n`;
    * the 0.9 peak scaling runs over every written signal (mix, references, images, clean, noise).
    """
    n_src = len(xs)
    levels = list(levels) if levels is not None else [None] * n_src
    images = []
    refs = []
    levs = []
    for k, x in enumerate(xs):
        x = np.asarray(x, dtype=np.float64)
        if rirs is not None:
            from scipy.signal import fftconvolve

            image = fftconvolve(x, rirs[k])[:x.size]
            ref = fftconvolve(x, early[k])[:x.size] if early is not None else image
            lev = level_8k(image).power
        else:
            image = ref = x
            lev = levels[k] if levels[k] is not None else level_8k(x).power
        if not lev > 0:
            raise SilentSourceError(f"source {k + 1} is silent (P.56 active level 0)")
        w = 10.0 ** (gains[k] / 20.0) / math.sqrt(lev)
        images.append(w * image)
        refs.append(w * ref)
        levs.append(float(lev))
    n = min(s.size for s in images)
    images = [s[:n] for s in images]
    refs = [s[:n] for s in refs]
    clean = images[0].copy()
    for s in images[1:]:
        clean = clean + s
    scaled_noise = None
    noise_gain = 0.0
    speech_level = 0.0
    if noise is not None:
        seg = np.asarray(noise, dtype=np.float64)[:n]
        speech_level = level_8k(clean).power
        power = float(np.mean(seg * seg))
        if not (power > 0 and speech_level > 0):
            raise SilentSourceError("the noise segment or the speech mixture is silent")
        noise_gain = math.sqrt(speech_level / (power * 10.0 ** (float(snr_db) / 10.0)))
        scaled_noise = noise_gain * seg
        mix = clean + scaled_noise
    else:
        mix = clean
    parts = [mix, *refs] + (images if rirs is not None else [])
    if scaled_noise is not None:
        parts += [clean, scaled_noise]
    scale = 1.0 / max(float(np.max(np.abs(p))) for p in parts) * PEAK
    return MixtureN(
        to_int16(scale * mix), [to_int16(scale * s) for s in refs],
        [to_int16(scale * s) for s in images] if rirs is not None else [],
        to_int16(scale * clean) if scaled_noise is not None else None,
        to_int16(scale * scaled_noise) if scaled_noise is not None else None,
        levs, float(scale), noise_gain * scale, speech_level)
