"""Front-ends small enough for a board, twins of ``tinyfuse.sensors.frontends`` (the host
reference) within the tolerances the tests state: thermal/depth normalisation and block-mean
downsampling; the whole vibration front-end (detrend, zero-phase Butterworth band-pass with
the second-order sections the host generator computed, Welch band powers, statistics, Hilbert
envelope spectrum); audio log-mel and MFCC (centred Hann frames, power spectrum, the Slaney mel
filterbank the host generator exported, decibels floored 80 dB below the clip's peak, DCT-II).

Not here (yet): resampling, depth hole filling, bilinear upsampling. Floats are MicroPython
floats (float32 on most boards, double on the Unix port); signal buffers are ``array(FLOAT)``
(4 or 8 bytes a value instead of a boxed float object), ``FLOAT`` matching the port's float.
"""

import math
from array import array

FLOAT = "d" if 1.0 + 2.0 ** -30 != 1.0 else "f"


def zeros(count):
    """``count`` zeros as ``array(FLOAT)``."""
    return array(FLOAT, bytearray(count * (8 if FLOAT == "d" else 4)))


def floats(values):
    """Any sequence of numbers as ``array(FLOAT)``."""
    out = zeros(len(values))
    for i in range(len(values)):
        out[i] = values[i]
    return out

POWER_FLOOR = 1e-12
AMPLITUDE_FLOOR = 1e-6


# --- thermal and depth images -------------------------------------------------------------

def block_mean(frame, rows, cols, height, width):
    """Area average of a ``rows x cols`` frame (flat, row-major) onto ``height x width`` when
    the sizes divide (OpenCV's INTER_AREA for integer factors); flat list out."""
    if rows % height or cols % width:
        raise ValueError("block_mean: %dx%d does not divide into %dx%d" % (rows, cols, height,
                                                                          width))
    fy, fx = rows // height, cols // width
    out = []
    for y in range(height):
        for x in range(width):
            total = 0.0
            for dy in range(fy):
                base = (y * fy + dy) * cols + x * fx
                for dx in range(fx):
                    total += frame[base + dx]
            out.append(total / (fy * fx))
    return out


def normalize_fixed(frame, min_value, max_value):
    span = max_value - min_value
    return [min(1.0, max(0.0, (v - min_value) / span)) for v in frame]


def normalize_minmax(frame):
    low, high = min(frame), max(frame)
    if high <= low:
        return [0.0] * len(frame)
    return [min(1.0, max(0.0, (v - low) / (high - low))) for v in frame]


def median(values):
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else 0.5 * (ordered[middle - 1] + ordered[middle])


def image_features(frame, rows, cols, spec, background=None):
    """An ``image`` front-end spec (``config.json`` inputs[i].frontend) on one frame."""
    values = list(frame)
    if spec.get("subtract_background"):
        reference = background if background is not None else [median(values)] * len(values)
        values = [v - b for v, b in zip(values, reference)]
    if (rows, cols) != (spec["height"], spec["width"]):
        values = block_mean(values, rows, cols, spec["height"], spec["width"])
    if spec.get("normalize", "fixed") == "minmax":
        return normalize_minmax(values)
    return normalize_fixed(values, spec["min_value"], spec["max_value"])


# --- vibration ----------------------------------------------------------------------------

def detrend(x):
    """Remove the least-squares line; ``array(FLOAT)``."""
    n = len(x)
    out = zeros(n)
    if n < 2:
        return out
    t_mean = (n - 1) / 2.0
    x_mean = sum(x) / n
    num = 0.0
    den = 0.0
    for i in range(n):
        dt = i - t_mean
        num += dt * (x[i] - x_mean)
        den += dt * dt
    slope = num / den
    for i in range(n):
        out[i] = x[i] - x_mean - slope * (i - t_mean)
    return out


def statistics(x):
    """``log10(rms)``, ``log10(peak)``, crest factor, Pearson kurtosis (0, 0 when silent)."""
    n = len(x)
    level = math.sqrt(sum(v * v for v in x) / n)
    top = max(abs(v) for v in x)
    if level <= AMPLITUDE_FLOOR:
        crest, kurt = 0.0, 0.0
    else:
        mean = sum(x) / n
        m2 = sum((v - mean) ** 2 for v in x) / n
        m4 = sum((v - mean) ** 4 for v in x) / n
        crest = top / level
        kurt = m4 / (m2 * m2) if m2 > 0 else 0.0
    return [math.log10(max(level, AMPLITUDE_FLOOR)), math.log10(max(top, AMPLITUDE_FLOOR)),
            crest, kurt]


def fft(re, im):
    """In-place radix-2 FFT of ``len(re)`` (a power of two) complex values."""
    n = len(re)
    j = 0
    for i in range(1, n):
        bit = n >> 1
        while j & bit:
            j ^= bit
            bit >>= 1
        j |= bit
        if i < j:
            re[i], re[j] = re[j], re[i]
            im[i], im[j] = im[j], im[i]
    size = 2
    while size <= n:
        step = -2.0 * math.pi / size
        half = size // 2
        for k in range(half):
            wr, wi = math.cos(step * k), math.sin(step * k)
            for start in range(k, n, size):
                other = start + half
                tr = wr * re[other] - wi * im[other]
                ti = wr * im[other] + wi * re[other]
                re[other], im[other] = re[start] - tr, im[start] - ti
                re[start] += tr
                im[start] += ti
        size *= 2


def hann(count):
    """Periodic Hann window (scipy's ``get_window("hann", count)``)."""
    window = zeros(count)
    for i in range(count):
        window[i] = 0.5 - 0.5 * math.cos(2 * math.pi * i / count)
    return window


def welch_psd(x, sample_rate_hz, n_fft):
    """One-sided Welch PSD (periodic Hann, ``nperseg = min(n_fft, n)``, half overlap,
    density scaling), as ``scipy.signal.welch(..., detrend=False)``."""
    n = len(x)
    nperseg = min(n_fft, n)
    window = hann(nperseg)
    scale = 1.0 / (sample_rate_hz * sum(w * w for w in window))
    step = nperseg - nperseg // 2
    bins = n_fft // 2 + 1
    psd = zeros(bins)
    re, im = zeros(n_fft), zeros(n_fft)
    segments = 0
    for start in range(0, n - nperseg + 1, step):
        for i in range(n_fft):
            re[i] = x[start + i] * window[i] if i < nperseg else 0.0
            im[i] = 0.0
        fft(re, im)
        for k in range(bins):
            psd[k] += re[k] * re[k] + im[k] * im[k]
        segments += 1
    for k in range(bins):
        psd[k] *= scale / segments * (1 if k == 0 or (k == bins - 1 and n_fft % 2 == 0) else 2)
    return psd


def band_powers(psd, sample_rate_hz, n_fft, fmin_hz, fmax_hz, n_bands):
    """log10 of the PSD integrated over equal-width bands (each bin counts by the fraction of
    its width inside the band)."""
    df = sample_rate_hz / n_fft
    width = (fmax_hz - fmin_hz) / n_bands
    out = []
    for b in range(n_bands):
        low, high = fmin_hz + b * width, fmin_hz + (b + 1) * width
        total = 0.0
        for k in range(len(psd)):
            overlap = min(k * df + df / 2, high) - max(max(k * df - df / 2, 0.0), low)
            if overlap > 0:
                total += overlap * psd[k]
        out.append(math.log10(max(total, POWER_FLOOR)))
    return out


def _ifft(re, im):
    """Inverse of :func:`fft`, in place (``conj(fft(conj(x))) / n``)."""
    n = len(re)
    for i in range(n):
        im[i] = -im[i]
    fft(re, im)
    for i in range(n):
        re[i] /= n
        im[i] = -im[i] / n


def dft(re, im):
    """DFT of any length (Bluestein's chirp-z through power-of-two FFTs), in place."""
    n = len(re)
    if n & (n - 1) == 0:
        fft(re, im)
        return
    size = 1
    while size < 2 * n - 1:
        size *= 2
    wr, wi = zeros(n), zeros(n)
    for k in range(n):
        angle = math.pi * ((k * k) % (2 * n)) / n
        wr[k] = math.cos(angle)
        wi[k] = -math.sin(angle)
    ar, ai, br, bi = zeros(size), zeros(size), zeros(size), zeros(size)
    for k in range(n):
        ar[k] = re[k] * wr[k] - im[k] * wi[k]
        ai[k] = re[k] * wi[k] + im[k] * wr[k]
        br[k], bi[k] = wr[k], -wi[k]
        if k:
            br[size - k], bi[size - k] = wr[k], -wi[k]
    fft(ar, ai)
    fft(br, bi)
    for k in range(size):
        ar[k], ai[k] = ar[k] * br[k] - ai[k] * bi[k], ar[k] * bi[k] + ai[k] * br[k]
    br = bi = None
    _ifft(ar, ai)
    for k in range(n):
        re[k] = ar[k] * wr[k] - ai[k] * wi[k]
        im[k] = ar[k] * wi[k] + ai[k] * wr[k]


def envelope(x):
    """``|hilbert(x)|``: the analytic signal's magnitude (scipy.signal.hilbert's method)."""
    n = len(x)
    re, im = floats(x), zeros(n)
    dft(re, im)
    for k in range(1, n):
        factor = 0.0 if k > n // 2 else (1.0 if (n % 2 == 0 and k == n // 2) else 2.0)
        re[k] *= factor
        im[k] = -im[k] * factor  # conjugated: the inverse DFT is conj(DFT(conj(X))) / n
    dft(re, im)
    for k in range(n):
        re[k] = math.sqrt(re[k] * re[k] + im[k] * im[k]) / n
    return re


def _sosfilt(sections, y, state):
    """Direct form II transposed, section after section, in place on ``y``."""
    for index, (b0, b1, b2, _, a1, a2) in enumerate(sections):
        z0, z1 = state[index]
        for i in range(len(y)):
            v = y[i]
            out = b0 * v + z0
            z0 = b1 * v - a1 * out + z1
            z1 = b2 * v - a2 * out
            y[i] = out


def sosfiltfilt(sections, zi, x):
    """Zero-phase filtering as ``scipy.signal.sosfiltfilt(..., padtype="even",
    padlen=len(x) - 1)``: the window mirrored at both ends, forward then backward, each
    pass started from the steady state ``zi`` scaled by its first sample."""
    n = len(x)
    if n < 2:
        return floats(x)
    y = zeros(3 * n - 2)
    for i in range(n - 1):
        y[i] = x[n - 1 - i]          # x[n-1], ..., x[1]
        y[2 * n - 1 + i] = x[n - 2 - i]  # x[n-2], ..., x[0]
    for i in range(n):
        y[n - 1 + i] = x[i]
    for direction in range(2):
        first = y[0]
        _sosfilt(sections, y, [(a * first, b * first) for a, b in zi])
        for i in range(len(y) // 2):  # reverse in place
            y[i], y[len(y) - 1 - i] = y[len(y) - 1 - i], y[i]
    out = zeros(n)
    for i in range(n):
        out[i] = y[n - 1 + i]
    return out


def vibration_features(samples, spec, sections, zi):
    """The ``vibration`` front-end on one window: ``samples`` is flat ``(n_samples, n_axes)``
    row-major; ``sections``/``zi`` the band-pass (``config.json``, empty: none). Returns
    per axis ``n_bands`` log10 band powers, 4 statistics, ``n_envelope_bands`` log10
    envelope band powers, axes one after the other."""
    axes = spec["n_axes"]
    count = int(round(spec["window_s"] * spec["sample_rate_hz"]))
    rate, n_fft = spec["sample_rate_hz"], spec["n_fft"]
    available = min(count, len(samples) // axes)
    out = []
    for axis in range(axes):
        x = zeros(count)
        for i in range(available):
            x[i] = samples[i * axes + axis]
        x = detrend(x)
        if sections:
            x = sosfiltfilt(sections, zi, x)
        out += band_powers(welch_psd(x, rate, n_fft), rate, n_fft, spec["fmin_hz"],
                           spec["fmax_hz"], spec["n_bands"])
        out += statistics(x)
        if spec["n_envelope_bands"]:
            env = envelope(x)
            x = None
            mean = sum(env) / len(env)
            for i in range(len(env)):
                env[i] -= mean
            out += band_powers(welch_psd(env, rate, n_fft), rate, n_fft, 0.0,
                               spec["envelope_fmax_hz"], spec["n_envelope_bands"])
    return out


# --- audio --------------------------------------------------------------------------------

AMIN = 1e-10
TOP_DB = 80.0


def audio_features(signal, spec, mel):
    """The ``audio`` front-end on a clip already at ``spec["sample_rate_hz"]`` (any
    sequence of floats, ``array('f')`` from a driver keeps it small): trimmed or
    zero-padded to ``duration_s``, then log-mel (dB) or MFCC frames, flat time-major.
    ``mel`` is the filterbank as ``[[first_bin, [weights...]], ...]`` (``config.json``)."""
    n_fft, hop = spec["n_fft"], spec["hop_length"]
    count = int(round(spec["duration_s"] * spec["sample_rate_hz"]))
    available = min(count, len(signal))
    half = n_fft // 2
    window = hann(n_fft)
    re, im = zeros(n_fft), zeros(n_fft)
    rows = []
    for start in range(-half, count + half - n_fft + 1, hop):  # centred, zero-padded frames
        for i in range(n_fft):
            j = start + i
            re[i] = signal[j] * window[i] if 0 <= j < available else 0.0
            im[i] = 0.0
        fft(re, im)
        for k in range(half + 1):
            re[k] = re[k] * re[k] + im[k] * im[k]
        row = zeros(len(mel))
        for band, (first, weights) in enumerate(mel):
            total = 0.0
            for j in range(len(weights)):
                total += weights[j] * re[first + j]
            row[band] = 10.0 * math.log10(max(total, AMIN))
        rows.append(row)
    floor = max(max(row) for row in rows) - TOP_DB
    for row in rows:
        for band in range(len(row)):
            if row[band] < floor:
                row[band] = floor
    if spec.get("feature", "mfcc") != "mfcc":
        return [v for row in rows for v in row]
    bands = len(mel)
    dct = []
    for k in range(spec["n_mfcc"]):
        scale = math.sqrt(2.0 / bands) / (math.sqrt(2.0) if k == 0 else 1.0)
        dct.append(floats([scale * math.cos(math.pi * k * (2 * m + 1) / (2 * bands))
                           for m in range(bands)]))
    return [sum(c[m] * row[m] for m in range(bands)) for row in rows for c in dct]
