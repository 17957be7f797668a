"""Loss functions. `SoftmaxCrossEntropy` turns class scores into a mean loss."""

from __future__ import annotations

import numpy as np

from .validation import check_array


class SoftmaxCrossEntropy:
    """Softmax followed by the cross-entropy with integer labels, averaged over the batch.

    ``forward(scores, y)``: scores ``(N, K)`` float, y ``(N,)`` ints in ``[0, K)``;
    returns the mean loss ``-mean(log softmax(scores)[n, y[n]])`` (a float).
    ``backward()``: returns ``dL/dscores = (softmax(scores) - onehot(y)) / N``.
    Softmax subtracts each row's maximum first, so large scores do not overflow.
    """

    def forward(self, scores: np.ndarray, y: np.ndarray) -> float:
        label = "SoftmaxCrossEntropy"
        check_array(scores, label, ndim=2, name="scores")
        y = np.asarray(y)
        if not np.issubdtype(y.dtype, np.integer):
            raise TypeError(f"{label}: y must hold integer class labels. "
                            f"Received: y of dtype {y.dtype}")
        n, k = scores.shape
        if y.shape != (n,):
            raise ValueError(f"{label}: y must have shape [{n}] to match scores of shape "
                             f"{list(scores.shape)}. Received: y of shape {list(y.shape)}")
        if n == 0:
            raise ValueError(f"{label}: scores must hold at least one example. "
                             f"Received: scores of shape {list(scores.shape)}")
        if n and (y.min() < 0 or y.max() >= k):
            bad = y[(y < 0) | (y >= k)][0]
            raise ValueError(f"{label}: y must hold labels in [0, {k - 1}] for {k} classes. "
                             f"Received: label {bad}")
        # BEGIN SOLUTION cnn_layers
        # HINT: subtract each row's max, take log-softmax, average -log p of the true class.
        shifted = scores - scores.max(axis=1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        self.cache = (np.exp(log_probs), y)
        return float(-log_probs[np.arange(n), y].mean())
        # END SOLUTION

    def backward(self) -> np.ndarray:
        """dL/dscores, shaped like the scores given to `forward`."""
        if getattr(self, "cache", None) is None:
            raise RuntimeError("SoftmaxCrossEntropy: backward() was called before forward()")
        probs, y = self.cache
        n = probs.shape[0]
        # BEGIN SOLUTION cnn_layers
        # HINT: softmax probabilities minus one-hot labels, divided by N.
        dscores = probs.copy()
        dscores[np.arange(n), y] -= 1
        return dscores / n
        # END SOLUTION

    def __call__(self, scores: np.ndarray, y: np.ndarray) -> float:
        return self.forward(scores, y)
