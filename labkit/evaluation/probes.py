"""Linear probes: how much of a known factor a code (or an image) holds, read by a ridge regression fitted on
train identities and scored, as R², on test identities (labkit.evaluation.latent, labkit.evaluation.ceilings)."""
from __future__ import annotations

import numpy as np
from sklearn.linear_model import Ridge, RidgeCV
from sklearn.metrics import r2_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def fit_probe(x_train, y_train):
    """A ridge regression on standardised codes (a fitted scikit-learn pipeline)."""
    return make_pipeline(StandardScaler(), Ridge(alpha=1.0)).fit(x_train, y_train)


def r2_per_target(y, pred) -> np.ndarray:
    """R² of each target column of pred (N, K) against y (N, K): (K,)."""
    return np.atleast_1d(r2_score(y, pred, multioutput="raw_values"))


def probe_r2(x_train, y_train, x_test, y_test) -> np.ndarray:
    """Per-target test R² of a ridge regression on standardised codes: (num_targets,)."""
    return r2_per_target(y_test, fit_probe(x_train, y_train).predict(x_test))


def within_identity_r2(x, y, ids) -> np.ndarray:
    """Per-target R² of a linear probe of motion within one person: each person's mean is taken from
    the codes x (N, ·) and the targets y (N, T), and the probe is fit on half of the people and
    scored on the other half (both ways, two-fold by person). It forgives what unsupervised training
    leaves free, a constant offset of the codes per person (a source's pose is undone and a driver's
    applied, so such an offset cancels; and head size and distance look alike in one image), and
    nothing else."""
    x, y, ids = np.asarray(x, np.float64).copy(), np.asarray(y, np.float64).copy(), np.asarray(ids)
    people = np.unique(ids)
    if len(people) < 4:
        raise ValueError(f"within_identity_r2 needs frames of at least 4 people, got {len(people)}")
    for i in people:
        rows = ids == i
        x[rows] -= x[rows].mean(0)
        y[rows] -= y[rows].mean(0)
    first = np.isin(ids, people[: len(people) // 2])
    pred = np.empty_like(y)
    for fit, score in ((first, ~first), (~first, first)):
        pred[score] = fit_probe(x[fit], y[fit]).predict(x[score])
    return r2_per_target(y, pred)


def pixel_probe_r2(x_train, y_train, x_test, y_test) -> np.ndarray:
    """Per-target test R² of a ridge regression on standardised raw pixels, its strength chosen for each
    target by leave-one-out cross-validation on the training frames (10^0 to 10^6): (num_targets,)."""
    probe = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(0, 6, 13), alpha_per_target=True))
    return r2_per_target(y_test, probe.fit(x_train, y_train).predict(x_test))
