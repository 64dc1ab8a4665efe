"""The training recipe: class balance, validation-driven epochs, seeded augmentation."""

from __future__ import annotations

import keras
import numpy as np

from tinyfuse.fusion.augment import AugmentedBatches, augment_batch
from tinyfuse.fusion.metrics import balanced_accuracy
from tinyfuse.fusion.train import Recipe, class_weights, train_classifier


def _mlp(n_in: int, n_classes: int, seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    inp = keras.Input((n_in,), name="x")
    hidden = keras.layers.Dense(16, activation="relu")(inp)
    logits = keras.layers.Dense(n_classes, name="logits")(hidden)
    return keras.Model([inp], keras.layers.Softmax(name="probs")(logits))


def _imbalanced(n_major: int, n_minor: int, seed: int):
    """Two overlapping Gaussian classes, the second rare."""
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(0.0, 1.0, (n_major, 4)), rng.normal(1.2, 1.0, (n_minor, 4))])
    y = np.array([0] * n_major + [1] * n_minor)
    return x.astype(np.float32), y


def test_class_weights_make_every_class_weigh_the_same():
    labels = np.array([0] * 90 + [1] * 10)
    weights = class_weights(labels)
    assert np.isclose(weights.mean(), 1.0)
    assert np.isclose(weights[labels == 0].sum(), weights[labels == 1].sum())


def test_balanced_loss_keeps_the_rare_class_alive():
    x, y = _imbalanced(570, 30, seed=1)
    xv, yv = _imbalanced(190, 10, seed=2)
    scores = {}
    for balanced in (False, True):
        model = _mlp(4, 2)
        train_classifier(model, [x], y, recipe=Recipe(epochs=15, patience=0,
                                                      balanced=balanced))
        scores[balanced] = balanced_accuracy(yv, model.predict([xv], verbose=0).argmax(1))
    assert scores[True] > 0.75
    assert scores[True] > scores[False] + 0.1


def test_validation_keeps_the_best_epoch_and_stops_early():
    x, y = _imbalanced(200, 200, seed=3)
    model = _mlp(4, 2)
    fit = train_classifier(model, [x], y, recipe=Recipe(epochs=200, patience=4),
                           validation=([x[:100]], y[:100]))
    assert fit.epochs_run < 200  # stopped by patience
    assert 0 <= fit.best_epoch <= fit.epochs_run
    kept = balanced_accuracy(y[:100], model.predict([x[:100]], verbose=0).argmax(1))
    assert np.isclose(kept, fit.val_balanced_accuracy)


def test_a_fit_still_improving_at_its_ceiling_goes_on_up_to_extend_times():
    x, y = _imbalanced(300, 300, seed=5)
    runs = {}
    for extend in (1, 3):
        model = _mlp(4, 2)
        fit = train_classifier(model, [x], y, recipe=Recipe(epochs=3, patience=4,
                                                            learning_rate=3e-4, extend=extend),
                               validation=([x[:200]], y[:200]))
        runs[extend] = fit
        kept = balanced_accuracy(y[:200], model.predict([x[:200]], verbose=0).argmax(1))
        assert np.isclose(kept, fit.val_balanced_accuracy)
    assert runs[1].epochs_run == 3  # extend 1: the ceiling is the ceiling
    assert 3 < runs[3].epochs_run <= 9  # a slow fit, still improving at epoch 3, goes on
    assert runs[3].best_epoch > 3
    assert len(runs[3].losses) == runs[3].epochs_run


def test_fine_tuning_never_leaves_a_model_worse_on_validation():
    x, y = _imbalanced(200, 200, seed=4)
    model = _mlp(4, 2)
    first = train_classifier(model, [x], y, recipe=Recipe(epochs=30, patience=5),
                             validation=([x], y))
    # a learning rate that wrecks the weights: the starting weights must come back
    wrecked = train_classifier(model, [x], y, recipe=Recipe(epochs=3, patience=3,
                                                            learning_rate=1.0),
                               validation=([x], y))
    assert wrecked.val_balanced_accuracy >= first.val_balanced_accuracy - 1e-9
    assert np.isclose(balanced_accuracy(y, model.predict([x], verbose=0).argmax(1)),
                      wrecked.val_balanced_accuracy)


def test_augmentation_is_seeded_and_shifts_only_maps():
    rng = np.random.default_rng(0)
    image = np.arange(2 * 4 * 4, dtype=np.float32).reshape(2, 4, 4, 1)
    vector = rng.normal(size=(2, 6)).astype(np.float32)
    a = augment_batch(image, np.random.default_rng(5), noise_std=0.0, gain_std=0.0, max_shift=1)
    b = augment_batch(image, np.random.default_rng(5), noise_std=0.0, gain_std=0.0, max_shift=1)
    assert np.array_equal(a, b)
    # a shift repeats edge values: every value of the result was in the sample
    assert set(np.unique(a[0])) <= set(np.unique(image[0]))
    # flat vectors are never shifted (no noise, no gain: unchanged)
    same = augment_batch(vector, np.random.default_rng(5), noise_std=0.0, gain_std=0.0,
                         max_shift=3)
    assert np.array_equal(same, vector)
    noisy = augment_batch(vector, np.random.default_rng(5), noise_std=0.1, gain_std=0.0,
                          max_shift=0)
    assert 0.0 < np.abs(noisy - vector).max() < 1.0


def test_augmented_batches_cover_every_sample_once_per_epoch():
    x = np.arange(10, dtype=np.float32).reshape(10, 1)
    data = AugmentedBatches([x], np.arange(10), np.ones(10), batch_size=4,
                            augment=(0.0, 0.0, 0), seed=3)
    seen = np.concatenate([data[i][0][0][:, 0] for i in range(len(data))])
    assert sorted(seen.tolist()) == list(range(10))
    first = [data[i][1].tolist() for i in range(len(data))]
    data.on_epoch_end()
    assert [data[i][1].tolist() for i in range(len(data))] != first
