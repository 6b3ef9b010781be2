"""Distillation targets: the blend of votes and a teacher's probabilities."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.emotion.distill import blend_targets


def test_blend_is_the_weighted_mean_of_two_distributions() -> None:
    rng = np.random.default_rng(1)
    votes, teacher = rng.dirichlet(np.ones(8), 20), rng.dirichlet(np.ones(8), 20)
    assert np.allclose(blend_targets(votes, teacher, 0.0), votes)
    assert np.allclose(blend_targets(votes, teacher, 1.0), teacher)
    blended = blend_targets(votes, teacher, 0.25)
    assert np.allclose(blended, 0.75 * votes + 0.25 * teacher, atol=1e-6)
    assert np.allclose(blended.sum(axis=1), 1.0)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        blend_targets(votes, teacher, 1.5)
