"""Seeded augmentation of standardised model inputs, batch by batch.

Applied to every input of a batch independently, in standardised units:

* **noise**: add Gaussian noise of standard deviation ``noise_std``;
* **gain**: multiply by ``1 + g`` with ``g ~ N(0, gain_std)`` per sample;
* **shift**: for inputs with a time or position axis (rank >= 3: MFCC ``T x n_mfcc`` maps,
  thermal / depth images, clips), roll along that first axis (and, for images, the second)
  by up to ``max_shift`` cells, filling with the edge value. Flat vectors (vibration spectra,
  process variables) are not shifted: moving spectral bins would change the machine's speed.

Draws come from ``numpy.random.default_rng((seed, epoch, batch))``: the same recipe gives the
same augmented batches on every machine.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np


def augment_batch(x: np.ndarray, rng: np.random.Generator, *, noise_std: float,
                  gain_std: float, max_shift: int) -> np.ndarray:
    """One augmented copy of the batch ``x`` ``(n, ...)`` (float32; see the module doc)."""
    out = np.asarray(x, np.float32).copy()
    n = len(out)
    if max_shift > 0 and out.ndim >= 3:
        for axis in (1, 2) if out.ndim == 4 and out.shape[2] > 1 else (1,):
            shifts = rng.integers(-max_shift, max_shift + 1, size=n)
            for row in np.flatnonzero(shifts):
                out[row] = _shift(out[row], int(shifts[row]), axis - 1)
    if gain_std > 0:
        out *= (1.0 + rng.normal(0.0, gain_std, size=(n,) + (1,) * (out.ndim - 1))
                ).astype(np.float32)
    if noise_std > 0:
        out += rng.normal(0.0, noise_std, size=out.shape).astype(np.float32)
    return out


def _shift(sample: np.ndarray, amount: int, axis: int) -> np.ndarray:
    """``sample`` moved by ``amount`` cells along ``axis``, edge values repeated."""
    length = sample.shape[axis]
    index = np.clip(np.arange(length) - amount, 0, length - 1)
    return np.take(sample, index, axis=axis)


class AugmentedBatches(keras.utils.PyDataset):
    """Shuffled, augmented ``(inputs, labels, sample_weights)`` batches for ``model.fit``."""

    def __init__(self, inputs: Sequence[np.ndarray], labels: np.ndarray, weights: np.ndarray,
                 *, batch_size: int, augment: tuple[float, float, int], seed: int):
        super().__init__()
        self.inputs = [np.asarray(x, np.float32) for x in inputs]
        self.labels, self.weights = np.asarray(labels), np.asarray(weights, np.float32)
        self.batch_size, self.augment, self.seed = int(batch_size), augment, int(seed)
        self.epoch = 0
        self.order = self._order()

    def _order(self) -> np.ndarray:
        return np.random.default_rng((self.seed, self.epoch)).permutation(len(self.labels))

    def __len__(self) -> int:
        return max(1, -(-len(self.labels) // self.batch_size))

    def __getitem__(self, index: int):
        rows = self.order[index * self.batch_size:(index + 1) * self.batch_size]
        rng = np.random.default_rng((self.seed, self.epoch, index))
        noise_std, gain_std, max_shift = self.augment
        batch = tuple(augment_batch(x[rows], rng, noise_std=noise_std, gain_std=gain_std,
                                    max_shift=max_shift) for x in self.inputs)
        return batch, self.labels[rows], self.weights[rows]

    def on_epoch_end(self) -> None:
        self.epoch += 1
        self.order = self._order()


def augmented_batches(inputs: Sequence[np.ndarray], labels: np.ndarray, weights: np.ndarray,
                      *, batch_size: int, augment: tuple[float, float, int] | None,
                      seed: int) -> AugmentedBatches | None:
    """The augmented batches of one fit, or ``None`` when ``augment`` is ``None``."""
    if augment is None:
        return None
    return AugmentedBatches(inputs, labels, weights, batch_size=batch_size, augment=augment,
                            seed=seed)
