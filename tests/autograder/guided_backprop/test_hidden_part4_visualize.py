"""Part 4, hidden tests (only in the autograder): the jittered step is shifted back,
and the same seed gives the same image."""

import numpy as np
import pytest


def _mlp(student, rng):
    """flatten -> fc1 (16 -> 5) -> relu1 -> fc2 (5 -> 2), weights chosen here."""
    layers = student.layers
    model = student.Sequential([layers.Flatten(name="flat"), layers.Dense(16, 5, name="fc1"),
                                layers.ReLU(name="relu1"),
                                layers.Dense(5, 2, name="fc2")]).astype(np.float64)
    p = {"w1": rng.standard_normal((16, 5)), "b1": rng.standard_normal(5),
         "w2": rng.standard_normal((5, 2))}
    student.set(model["fc1"].params["W"], p["w1"])
    student.set(model["fc1"].params["b"], p["b1"])
    student.set(model["fc2"].params["W"], p["w2"])
    return model, p


def _grad(x, p, c):
    """d score_c / d x of _mlp, for images x (N, 1, 4, 4), written here."""
    pre = x.reshape(len(x), -1) @ p["w1"] + p["b1"]
    return ((pre > 0) * p["w2"][:, c] @ p["w1"].T).reshape(x.shape)


@pytest.mark.points(2)
def test_jittered_step_is_shifted_back(student, rng):
    """With jitter, one step is the gradient on the shifted image, shifted back: it
    matches that step for one of the possible shifts, and not always the zero shift."""
    model, p = _mlp(student, rng)
    x0 = rng.standard_normal((1, 1, 4, 4))
    shifts = []
    for seed in range(4):
        result = student.explain.maximize(model, 1, steps=1, lr=0.3, l2=0.0, jitter=1,
                                          blur_every=0, x0=x0, seed=seed, progress=False)
        image = student.get(result.image)
        matches = []
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                g = np.roll(_grad(np.roll(x0, (dy, dx), axis=(2, 3)), p, 1), (-dy, -dx),
                            axis=(2, 3))
                rms = np.sqrt(np.mean(g ** 2))
                step = 0.3 * g / rms if rms > 0 else 0 * g  # no gradient: no step
                if np.allclose(image, x0 + step, atol=1e-10):
                    matches.append((dy, dx))
        assert matches, f"seed={seed}: the step matches no shift of the image"
        shifts += matches
    assert any(s != (0, 0) for s in shifts), "the image was never shifted"


@pytest.mark.points(1)
def test_same_seed_same_image(student, rng):
    """Deterministic for a seed; another seed gives another image."""
    model, _ = _mlp(student, rng)
    kwargs = {"shape": (1, 4, 4), "steps": 5, "progress": False}
    one = student.get(student.explain.maximize(model, 0, seed=7, **kwargs).image)
    two = student.get(student.explain.maximize(model, 0, seed=7, **kwargs).image)
    other = student.get(student.explain.maximize(model, 0, seed=8, **kwargs).image)
    np.testing.assert_array_equal(one, two)
    assert not np.allclose(one, other)
