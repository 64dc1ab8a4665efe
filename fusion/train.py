"""Training: plain training and teacher -> student distillation (standardisation is the
Preprocessor's, ``tinyfuse.sensors.preprocess``).

Distillation follows Hinton et al.: the student minimises
``alpha * CE(y, softmax(s)) + (1 - alpha) * T**2 * KL(softmax(t / T) || softmax(s / T))``
with ``s``/``t`` the student/teacher logits and ``T`` the temperature. The ``T**2`` factor
keeps the soft-target gradients on the same scale as the hard ones.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import keras
import numpy as np
from keras import ops

from tinyfuse.core.errors import DataError
from tinyfuse.fusion.model import logits_model

log = logging.getLogger(__name__)


def compile_classifier(model: keras.Model, *, learning_rate: float = 3e-3) -> None:
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])


def train_classifier(model: keras.Model, inputs: Sequence[np.ndarray], labels: np.ndarray, *,
                     epochs: int = 20, batch_size: int = 32,
                     learning_rate: float = 3e-3) -> keras.callbacks.History:
    """Train a probability-output model on integer labels (sparse cross-entropy, Adam)."""
    compile_classifier(model, learning_rate=learning_rate)
    return model.fit(list(inputs), np.asarray(labels), epochs=epochs, batch_size=batch_size,
                     verbose=0, shuffle=True)


def predicted_classes(model: keras.Model, inputs: Sequence[np.ndarray]) -> np.ndarray:
    """Top-1 class ``(n,)`` of a probability- or logit-output model."""
    return np.argmax(model.predict(list(inputs), verbose=0, batch_size=256), axis=1)


def accuracy(model: keras.Model, inputs: Sequence[np.ndarray], labels: np.ndarray) -> float:
    """Top-1 accuracy of a probability- or logit-output model, in [0, 1]."""
    return float(np.mean(predicted_classes(model, inputs) == np.asarray(labels)))


def distillation_loss(labels, student_logits, teacher_logits, *, temperature: float,
                      alpha: float):
    """Per-batch mean distillation loss (see the module docstring).

    Parameters
    ----------
    labels : tensor, int, shape (n,)
    student_logits, teacher_logits : tensor, float32, shape (n, n_classes)

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
    return ops.mean(alpha * hard + (1.0 - alpha) * temperature ** 2 * kl)


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
                                 alpha=self.alpha)


def distill(student: keras.Model, teacher: keras.Model, inputs: Sequence[np.ndarray],
            labels: np.ndarray, *, temperature: float = 4.0, alpha: float = 0.3,
            epochs: int = 20, batch_size: int = 32, learning_rate: float = 3e-3) -> list[float]:
    """Distil ``teacher`` into ``student`` in place; returns the per-epoch loss. The teacher
    is frozen while it teaches and its ``trainable`` flag is restored afterwards."""
    if len(inputs[0]) != len(labels):
        raise DataError(f"distill: {len(inputs[0])} samples but {len(labels)} labels")
    flags = [(layer, layer.trainable) for layer in teacher.layers]
    try:  # freezing the teacher's logits view freezes the teacher's own layers: restore them
        distiller = Distiller(student=student, teacher=teacher, temperature=temperature,
                              alpha=alpha)
        distiller.compile(optimizer=keras.optimizers.Adam(learning_rate))
        history = distiller.fit(list(inputs), np.asarray(labels), epochs=epochs,
                                batch_size=batch_size, verbose=0, shuffle=True)
    finally:
        for layer, flag in flags:
            layer.trainable = flag
    losses = [float(v) for v in history.history["loss"]]
    log.info("distilled student: loss %.4f -> %.4f", losses[0], losses[-1])
    return losses
