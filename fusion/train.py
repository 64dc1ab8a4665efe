"""Training: plain training and teacher -> student distillation (standardisation is the
Preprocessor's, ``tinyfuse.sensors.preprocess``).

Every fit uses one recipe (:func:`fit_recipe`):

* **class-balanced loss**: each sample weighs ``n / (k * n_c)`` (``n`` samples, ``k`` classes
  present, ``n_c`` samples of its class), so a minority class counts as much as the majority;
* **validation-driven epochs**: with a validation split, the model is scored after every
  epoch by its balanced accuracy on it (ties broken by the class-weighted cross-entropy,
  which must fall by ``LOSS_DELTA``); the
  learning rate halves after ``patience // 2`` epochs without improvement, training stops
  after ``patience`` such epochs, and the best weights are restored. ``epochs`` is then a
  first ceiling: a fit that reaches it still improving (fewer than ``patience`` epochs since
  its best) goes on, ``epochs`` at a time, up to ``extend`` times ``epochs``. The weights
  the fit started from are scored first, so fine-tuning (distillation, pruning) never leaves
  a model worse on validation than it found it;
* **augmentation** (optional, seeded): Gaussian noise, gain and time/position shifts of the
  standardised inputs (:mod:`tinyfuse.fusion.augment`).

Distillation follows Hinton et al.: the student minimises
``alpha * CE(y, softmax(s)) + (1 - alpha) * T**2 * KL(softmax(t / T) || softmax(s / T))``
with ``s``/``t`` the student/teacher logits and ``T`` the temperature. The ``T**2`` factor
keeps the soft-target gradients on the same scale as the hard ones.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

import keras
import numpy as np
from keras import ops

from tinyfuse.core.errors import DataError
from tinyfuse.fusion.metrics import balanced_accuracy
from tinyfuse.fusion.model import logits_model

log = logging.getLogger(__name__)

Validation = tuple[Sequence[np.ndarray], np.ndarray]
PROGRESS_EVERY = 10  # epochs between progress lines at INFO level (every epoch at DEBUG)
LOSS_DELTA = 1e-3  # at equal balanced accuracy, a validation loss this much lower improves


@dataclass(frozen=True, slots=True, kw_only=True)
class Recipe:
    """How a model is fitted (see the module docstring). ``patience`` 0: a fixed number of
    epochs, no validation; ``min_epochs``: no early stop before (a model trained from scratch
    may sit on a plateau for a while). ``extend``: how many times ``epochs`` a fit still
    improving at its ceiling may run. ``augment``: ``(noise_std, gain_std, max_shift)`` or
    ``None``."""

    epochs: int = 20
    batch_size: int = 32
    learning_rate: float = 3e-3
    patience: int = 8
    min_epochs: int = 0
    extend: int = 1
    balanced: bool = True
    augment: tuple[float, float, int] | None = None
    seed: int = 0

    @classmethod
    def plain(cls, epochs: int, batch_size: int, learning_rate: float) -> Recipe:
        """A fixed-epoch fit: no validation, no class weights, no augmentation."""
        return cls(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate,
                   patience=0, balanced=False)


@dataclass
class Fit:
    """What one fit did: epochs run, the epoch whose weights were kept (0: the starting
    weights), the validation balanced accuracy of the kept weights (``None`` without a
    validation split), the per-epoch training loss and, for the linear student, the L2
    inverse strength ``l2_c`` it was solved at."""

    epochs_run: int
    best_epoch: int
    val_balanced_accuracy: float | None
    losses: list[float] = field(default_factory=list)
    l2_c: float | None = None


def class_weights(labels: np.ndarray) -> np.ndarray:
    """Per-sample weights ``n / (k * n_c)`` (mean 1): every class present weighs the same."""
    labels = np.asarray(labels, int)
    classes, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    return (len(labels) / (len(classes) * counts[inverse])).astype(np.float32)


def _probabilities(outputs: np.ndarray, *, logits: bool) -> np.ndarray:
    if not logits:
        return outputs
    shifted = outputs - outputs.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=1, keepdims=True)


class ValidationMonitor(keras.callbacks.Callback):
    """Scores the model on validation after every epoch (and before the first); keeps the
    best weights, halves the learning rate on plateaus, stops after ``patience`` epochs
    without improvement; ``restore_best`` puts the best weights back."""

    def __init__(self, validation: Validation, *, patience: int, logits: bool,
                 min_epochs: int = 0):
        super().__init__()
        self.inputs = [np.asarray(x) for x in validation[0]]
        self.labels = np.asarray(validation[1], int)
        self.weights = class_weights(self.labels)
        self.patience, self.logits, self.min_epochs = int(patience), logits, int(min_epochs)
        self.best: tuple[float, float] = (-1.0, 0.0)
        self.best_epoch, self.wait = 0, 0
        self.best_weights: list[np.ndarray] | None = None

    def score(self) -> tuple[float, float]:
        """``(balanced accuracy, -weighted cross-entropy)`` of the current weights."""
        outputs = [keras.ops.convert_to_numpy(self.model(
            [x[start:start + 1024] for x in self.inputs], training=False))
            for start in range(0, len(self.labels), 1024)]  # no predict(): no retracing
        probs = _probabilities(np.concatenate(outputs), logits=self.logits)
        picked = np.clip(probs[np.arange(len(self.labels)), self.labels], 1e-7, 1.0)
        loss = float(np.sum(self.weights * -np.log(picked)) / np.sum(self.weights))
        return balanced_accuracy(self.labels, probs.argmax(1)), -loss

    def _keep_if_better(self, epoch: int) -> bool:
        current = self.score()
        better = current[0] > self.best[0] + 1e-9 or (
            abs(current[0] - self.best[0]) <= 1e-9 and current[1] > self.best[1] + LOSS_DELTA)
        if better:
            self.best, self.best_epoch = current, epoch
            self.best_weights = [w.copy() for w in self.model.get_weights()]
        return better

    def on_train_begin(self, logs=None):
        if self.best_weights is None:  # a fit resumed past its ceiling keeps its history
            self._keep_if_better(0)

    def stopped(self) -> bool:
        """Whether the fit stopped itself (``patience`` epochs without improvement)."""
        return self.wait >= self.patience

    def on_epoch_end(self, epoch, logs=None):
        improved = self._keep_if_better(epoch + 1)
        level = logging.INFO if (epoch + 1) % PROGRESS_EVERY == 0 else logging.DEBUG
        log.log(level, "epoch %d: loss %.4f, validation balanced accuracy best %.3f at epoch "
                "%d", epoch + 1, float((logs or {}).get("loss", float("nan"))), self.best[0],
                self.best_epoch)
        if improved:
            self.wait = 0
            return
        self.wait += 1
        if self.wait % max(1, self.patience // 2) == 0:
            rate = self.model.optimizer.learning_rate
            rate.assign(float(rate.numpy()) * 0.5)
        if self.wait >= self.patience and epoch + 1 >= self.min_epochs:
            self.model.stop_training = True

    def restore_best(self) -> None:
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)


def fit_recipe(model: keras.Model, inputs: Sequence[np.ndarray], labels: np.ndarray,
               recipe: Recipe, *, validation: Validation | None = None,
               logits: bool = False) -> Fit:
    """``model.fit`` under ``recipe`` (``model`` already compiled); see the module doc."""
    from tinyfuse.fusion.augment import augmented_batches

    labels = np.asarray(labels)
    if len(inputs[0]) != len(labels):
        raise DataError(f"training: {len(inputs[0])} samples but {len(labels)} labels")
    weights = class_weights(labels) if recipe.balanced else np.ones(len(labels), np.float32)
    monitor = None
    callbacks: list[keras.callbacks.Callback] = []
    if validation is not None and recipe.patience > 0 and len(validation[1]):
        monitor = ValidationMonitor(validation, patience=recipe.patience, logits=logits,
                                    min_epochs=recipe.min_epochs)
        callbacks.append(monitor)
    data = augmented_batches(inputs, labels, weights, batch_size=recipe.batch_size,
                             augment=recipe.augment, seed=recipe.seed)
    losses: list[float] = []
    ceiling, cap = recipe.epochs, recipe.epochs * max(1, recipe.extend)
    while True:
        if data is None:
            history = model.fit(list(inputs), labels, sample_weight=weights, epochs=ceiling,
                                initial_epoch=len(losses), batch_size=recipe.batch_size,
                                verbose=0, shuffle=True, callbacks=callbacks)
        else:
            history = model.fit(data, epochs=ceiling, initial_epoch=len(losses), verbose=0,
                                callbacks=callbacks)
        losses += [float(v) for v in history.history.get("loss", [])]
        if monitor is None or monitor.stopped() or len(losses) < ceiling or ceiling >= cap:
            break
        ceiling = min(cap, ceiling + recipe.epochs)
        log.info("epoch %d: still improving at the ceiling, training goes on (up to %d)",
                 len(losses), ceiling)
    if monitor is None:
        return Fit(epochs_run=len(losses), best_epoch=len(losses), val_balanced_accuracy=None,
                   losses=losses)
    monitor.restore_best()
    return Fit(epochs_run=len(losses), best_epoch=monitor.best_epoch,
               val_balanced_accuracy=monitor.best[0], losses=losses)


def compile_classifier(model: keras.Model, *, learning_rate: float = 3e-3) -> None:
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss="sparse_categorical_crossentropy", weighted_metrics=["accuracy"])


def train_classifier(model: keras.Model, inputs: Sequence[np.ndarray], labels: np.ndarray, *,
                     recipe: Recipe | None = None, validation: Validation | None = None,
                     epochs: int = 20, batch_size: int = 32,
                     learning_rate: float = 3e-3) -> Fit:
    """Train a probability-output model on integer labels (sparse cross-entropy, Adam) under
    ``recipe``; without one, a plain fixed-epoch fit (``epochs``, ``batch_size``,
    ``learning_rate``, no class weights)."""
    recipe = recipe or Recipe.plain(epochs, batch_size, learning_rate)
    compile_classifier(model, learning_rate=recipe.learning_rate)
    fit = fit_recipe(model, inputs, labels, recipe, validation=validation)
    log.debug("trained %s: %d epochs, kept epoch %d, validation balanced accuracy %s",
              model.name, fit.epochs_run, fit.best_epoch, fit.val_balanced_accuracy)
    return fit


def fit_logistic(model: keras.Model, inputs: Sequence[np.ndarray], labels: np.ndarray, *,
                 balanced: bool = True, seed: int = 0, validation: Validation | None = None,
                 groups: np.ndarray | None = None) -> Fit:
    """Set a linear student (no hidden layer: ``logits`` reads the flattened inputs) to the
    logistic regression of its training rows, solved exactly (``baseline.logistic_weights``)
    rather than by a few epochs of Adam; scored on ``validation`` like any fit. With the
    ``groups`` of the training rows, its L2 strength is chosen by an inner cross-validation
    by group (``baseline.choose_c``); without, C = 1."""
    from tinyfuse.fusion.baseline import choose_c, logistic_weights

    layer = model.get_layer("logits")
    c = 1.0 if groups is None else choose_c(inputs, labels, groups, balanced=balanced,
                                            seed=seed)
    log.info("linear student: L2 inverse strength C = %g%s", c,
             " (inner cross-validation by group)" if groups is not None else "")
    kernel, bias = logistic_weights(inputs, labels, int(layer.units), balanced=balanced,
                                    seed=seed, c=c)
    kernel, bias = _readable_in_int8(kernel, bias, inputs)
    if tuple(layer.kernel.shape) != kernel.shape:
        raise DataError(f"fit_logistic: {model.name} is not a linear model (logits kernel "
                        f"{tuple(layer.kernel.shape)}, inputs give {kernel.shape})")
    layer.set_weights([kernel.astype(np.float32), bias.astype(np.float32)])
    score = None
    if validation is not None and len(validation[1]):
        score = balanced_accuracy(validation[1], predicted_classes(model, validation[0]))
    return Fit(epochs_run=0, best_epoch=0, val_balanced_accuracy=score, l2_c=float(c))


LOGIT_SPREAD = 2.0  # the least spread of a linear student's logits kept for int8


def _readable_in_int8(kernel: np.ndarray, bias: np.ndarray,
                      inputs: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """``kernel`` and ``bias`` scaled up so that the logits' spread around their row mean on
    the training rows is at least :data:`LOGIT_SPREAD`: the argmax is unchanged, but a
    strongly regularised regression (C = 1e-4) has logits that differ by far less than the
    int8 softmax's step of 1/256, and every row would tie on the first class."""
    from tinyfuse.fusion.baseline import flatten

    present = (bias != -20.0) | np.any(kernel != 0, axis=0)  # absent classes: bias -20
    logits = (flatten(inputs) @ kernel + bias)[:, present]
    spread = float(np.std(logits - logits.mean(axis=1, keepdims=True)))
    if not 0.0 < spread < LOGIT_SPREAD:
        return kernel, bias
    factor = LOGIT_SPREAD / spread
    return kernel * factor, bias * factor


def predicted_classes(model: keras.Model, inputs: Sequence[np.ndarray]) -> np.ndarray:
    """Top-1 class ``(n,)`` of a probability- or logit-output model."""
    return np.argmax(model.predict(list(inputs), verbose=0, batch_size=256), axis=1)


def accuracy(model: keras.Model, inputs: Sequence[np.ndarray], labels: np.ndarray) -> float:
    """Top-1 accuracy of a probability- or logit-output model, in [0, 1]."""
    return float(np.mean(predicted_classes(model, inputs) == np.asarray(labels)))


def distillation_loss(labels, student_logits, teacher_logits, *, temperature: float,
                      alpha: float, sample_weight=None):
    """Per-batch (weighted) mean distillation loss (see the module docstring).

    Parameters
    ----------
    labels : tensor, int, shape (n,)
    student_logits, teacher_logits : tensor, float32, shape (n, n_classes)
    sample_weight : tensor, float32, shape (n,), optional

    Returns
    -------
    scalar tensor, float32
    """
    hard = keras.losses.sparse_categorical_crossentropy(labels, student_logits,
                                                        from_logits=True)
    teacher_soft = ops.softmax(teacher_logits / temperature, axis=-1)
    student_log_soft = ops.log_softmax(student_logits / temperature, axis=-1)
    teacher_log_soft = ops.log(ops.maximum(teacher_soft, 1e-12))
    kl = ops.sum(teacher_soft * (teacher_log_soft - student_log_soft), axis=-1)
    per_sample = alpha * hard + (1.0 - alpha) * temperature ** 2 * kl
    if sample_weight is None:
        return ops.mean(per_sample)
    weight = ops.reshape(ops.cast(sample_weight, per_sample.dtype), (-1,))
    return ops.sum(weight * per_sample) / ops.maximum(ops.sum(weight), 1e-12)


class Distiller(keras.Model):
    """Trains ``student`` against hard labels and a frozen ``teacher``'s softened logits.

    Calling the distiller returns the student's logits; only student weights are trainable.
    """

    def __init__(self, *, student: keras.Model, teacher: keras.Model, temperature: float,
                 alpha: float, **kwargs):
        super().__init__(**kwargs)
        self.student_logits = logits_model(student)
        self.teacher_logits = logits_model(teacher)
        self.teacher_logits.trainable = False
        self.temperature = float(temperature)
        self.alpha = float(alpha)

    def call(self, inputs, training=None):
        return self.student_logits(inputs, training=training)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        teacher = ops.stop_gradient(self.teacher_logits(x, training=False))
        return distillation_loss(y, y_pred, teacher, temperature=self.temperature,
                                 alpha=self.alpha, sample_weight=sample_weight)


def distill(student: keras.Model, teacher: keras.Model, inputs: Sequence[np.ndarray],
            labels: np.ndarray, *, temperature: float = 4.0, alpha: float = 0.3,
            recipe: Recipe | None = None, validation: Validation | None = None,
            epochs: int = 20, batch_size: int = 32, learning_rate: float = 3e-3) -> Fit:
    """Distil ``teacher`` into ``student`` in place under ``recipe`` (without one, a plain
    fixed-epoch fit). The teacher is frozen while it teaches and its ``trainable`` flag is
    restored afterwards."""
    if len(inputs[0]) != len(labels):
        raise DataError(f"distill: {len(inputs[0])} samples but {len(labels)} labels")
    recipe = recipe or Recipe.plain(epochs, batch_size, learning_rate)
    flags = [(layer, layer.trainable) for layer in teacher.layers]
    try:  # freezing the teacher's logits view freezes the teacher's own layers: restore them
        distiller = Distiller(student=student, teacher=teacher, temperature=temperature,
                              alpha=alpha)
        distiller.compile(optimizer=keras.optimizers.Adam(recipe.learning_rate))
        fit = fit_recipe(distiller, inputs, labels, recipe, validation=validation, logits=True)
    finally:
        for layer, flag in flags:
            layer.trainable = flag
    if fit.losses:
        log.info("distilled student: loss %.4f -> %.4f, kept epoch %d", fit.losses[0],
                 fit.losses[-1], fit.best_epoch)
    return fit
