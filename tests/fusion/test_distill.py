"""Teacher -> student distillation: the loss on a known case, and only the student learns."""

from __future__ import annotations

import keras
import numpy as np

from tinyfuse.fusion.model import build_model, logits_model
from tinyfuse.fusion.train import accuracy, distill, distillation_loss


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_distillation_loss_matches_hand_computation():
    labels = np.array([0, 1])
    student = np.array([[0.0, 0.0, 0.0], [1.0, 2.0, -1.0]], np.float32)
    teacher = np.array([[2.0, 0.0, -2.0], [0.0, 3.0, 0.0]], np.float32)
    t, alpha = 2.0, 0.25
    hard = -np.log(_softmax(student)[[0, 1], labels])
    p_t, p_s = _softmax(teacher / t), _softmax(student / t)
    kl = np.sum(p_t * (np.log(p_t) - np.log(p_s)), axis=1)
    want = np.mean(alpha * hard + (1 - alpha) * t * t * kl)
    got = float(distillation_loss(labels, student, teacher, temperature=t, alpha=alpha))
    assert np.isclose(got, want, rtol=1e-5)
    # the first sample by hand: CE of uniform over 3 classes = log 3
    assert np.isclose(hard[0], np.log(3.0))
    # identical logits and alpha = 0: zero loss
    assert abs(float(distillation_loss(labels, teacher, teacher, temperature=3.0,
                                       alpha=0.0))) < 1e-6


def test_student_learns_and_teacher_is_frozen(task, trained):
    keras.utils.set_random_seed(11)
    teacher_before = [w.copy() for w in trained.get_weights()]
    student = build_model(task.spec.scaled(width_multiplier=1.0), seed=11)
    before = accuracy(student, task.inputs("test"), task.y_test)
    losses = distill(student, trained, task.inputs("train"), task.y_train, temperature=3.0,
                     alpha=0.3, epochs=20, learning_rate=1e-2).losses
    after = accuracy(student, task.inputs("test"), task.y_test)
    assert losses[-1] < losses[0]
    assert after > max(before, 0.8)
    assert trained.trainable and all(layer.trainable for layer in trained.layers)
    for old, new in zip(teacher_before, trained.get_weights(), strict=True):
        assert np.array_equal(old, new)
    # the student's logits view shares the student's weights
    assert logits_model(student).count_params() == student.count_params()
