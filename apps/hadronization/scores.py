"""The study's loss, the classifier two-sample test and the non-learned reference points.

Loss (:func:`stratified_w1`): the Wasserstein-1 distance (POT) of theta* between generated
and true decays, computed separately in every stratum (perturbative class x quark
hemisphere (helicity/lab frames) x cluster-mass bin x momentum bin, see ``prep.Strata``)
and averaged with the strata weights: every perturbative class weighs the same, within a
class each kinematic bin by its share of the class. phi* is left out: it is uniform by
construction in the quark and helicity frames. A sampler that ignores the conditions
reproduces only the mixture of all strata and cannot reach a low loss.

Reference points (:func:`references`, computed once per dataset, stored with every run):
``blind`` (training angles resampled, conditions ignored), ``isotropic`` (isotropic decay),
``baseline`` = the better of the two; ``floor`` = a perfect generator (the same clusters
decayed again by the generator; for other files: training angles resampled within each
stratum, an estimate), mean over :data:`FLOOR_DRAWS` draws (``floor_loss_std``: their
spread, the size of a replicate's sampling noise); all on validation and test.
"""
from __future__ import annotations

import numpy as np

from .prep import CLASS_NAMES, Prepared

FLOOR_DRAWS = 4   # independent perfect-generator draws averaged into the floor


def w1_1d(a: np.ndarray, b: np.ndarray) -> float:
    """Wasserstein-1 distance (POT ``wasserstein_1d``) of two 1-D samples ``(n,)``, ``(m,)``."""
    import ot  # noqa: PLC0415 - optional dependency

    return float(ot.wasserstein_1d(np.ascontiguousarray(a, float), np.ascontiguousarray(b, float), p=1))


def stratified_w1(generated: np.ndarray, true: np.ndarray, strata: np.ndarray, weights: dict) -> float:
    """The loss: weighted mean over strata of W1(theta*) (radians).

    Args:
        generated, true: ``(n, 2)`` angles (phi*, theta*), row i for the same cluster.
        strata: ``(n,)`` stratum ids; weights: stratum id -> weight. Strata with no
            clusters here are skipped and the rest renormalised.
    """
    total = norm = 0.0
    for stratum, weight in weights.items():
        sel = strata == stratum
        if sel.any():
            total += weight * w1_1d(generated[sel, 1], true[sel, 1])
            norm += weight
    return float(total / norm) if norm > 0 else float("nan")


def per_class_w1(generated: np.ndarray, true: np.ndarray, classes: np.ndarray) -> dict:
    """``{"w1_theta_<class>": W1 of theta* within the class}`` for the classes present."""
    return {f"w1_theta_{name}": w1_1d(generated[classes == c, 1], true[classes == c, 1])
            for c, name in enumerate(CLASS_NAMES) if np.any(classes == c)}


def _features(angles: np.ndarray, cond: np.ndarray) -> np.ndarray:
    phi, theta = angles[:, 0], angles[:, 1]
    return np.column_stack([np.cos(theta), np.cos(phi), np.sin(phi), cond])


def c2st_auc(true: np.ndarray, generated: np.ndarray, cond: np.ndarray, seed: int, max_rows: int = 20_000) -> float:
    """Classifier two-sample test: ROC AUC of a classifier telling true from generated decays.

    A gradient-boosted classifier (scikit-learn) sees angles and conditions; true and
    generated rows share the conditions, so only the conditional angle distribution
    separates them. Two-fold cross-fitting (a cluster's true and generated rows stay in one
    fold). 0.5 = indistinguishable, 1 = fully separable.

    Args:
        true, generated: ``(n, 2)`` angles; cond: ``(n, c)`` the clusters' conditions.
        seed: seeds the folds and the classifier; max_rows: clusters used at most.
    """
    from sklearn.ensemble import HistGradientBoostingClassifier  # noqa: PLC0415
    from sklearn.metrics import roc_auc_score  # noqa: PLC0415

    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 13]))
    rows = rng.permutation(len(true))[:max_rows]
    folds = np.array_split(rows, 2)
    aucs = []
    for k in range(2):
        train, test = folds[1 - k], folds[k]
        X = np.vstack([_features(true[train], cond[train]), _features(generated[train], cond[train])])
        y = np.r_[np.zeros(len(train)), np.ones(len(train))]
        clf = HistGradientBoostingClassifier(max_iter=100, random_state=int(seed)).fit(X, y)
        X_test = np.vstack([_features(true[test], cond[test]), _features(generated[test], cond[test])])
        aucs.append(roc_auc_score(np.r_[np.zeros(len(test)), np.ones(len(test))], clf.predict_proba(X_test)[:, 1]))
    return float(np.mean(aucs))



def isotropic_angles(n: int, seed: int) -> np.ndarray:
    """An isotropic decay, ``(n, 2)`` (phi*, theta*)."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 11]))
    return np.column_stack([rng.uniform(-np.pi, np.pi, n), np.arccos(rng.uniform(-1.0, 1.0, n))])


def blind_angles(d: Prepared, n: int, seed: int) -> np.ndarray:
    """The condition-blind sampler: ``n`` training angles drawn with replacement, ``(n, 2)``."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 12]))
    return d.angles["train"][rng.integers(0, len(d.angles["train"]), n)]


def stratum_resampled(d: Prepared, split: str, seed: int) -> np.ndarray:
    """Training angles drawn within each cluster's stratum (a lookup table), ``(n, 2)``."""
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), 14]))
    out = blind_angles(d, len(d.angles[split]), seed)       # strata absent from train: blind draw
    for stratum in np.unique(d.strata[split]):
        pool = d.angles["train"][d.strata["train"] == stratum]
        sel = d.strata[split] == stratum
        if len(pool):
            out[sel] = pool[rng.integers(0, len(pool), int(sel.sum()))]
    return out


def loss_on(d: Prepared, generated: np.ndarray, split: str) -> float:
    """:func:`stratified_w1` of ``generated`` ``(n_split, 2)`` against the split's truth."""
    return stratified_w1(generated, d.angles[split], d.strata[split], d.strata_fit.weights)


def references(d: Prepared, seed: int, c2st: bool = True) -> dict:
    """The reference scores of the dataset (validation and test), see the module doc."""
    out: dict = {}
    for split, suffix in (("val", ""), ("test", "_test")):
        n = len(d.angles[split])
        blind = loss_on(d, blind_angles(d, n, seed + (split == "test")), split)
        iso = loss_on(d, isotropic_angles(n, seed + (split == "test")), split)
        draws = d.redecayed.get(split)
        if draws is None:
            draws = [stratum_resampled(d, split, seed + 100 + k) for k in range(FLOOR_DRAWS)]
        floors = [loss_on(d, sample, split) for sample in draws]
        out.update({f"blind{suffix}_loss": blind, f"isotropic{suffix}_loss": iso,
                    f"baseline{suffix}_loss": min(blind, iso), f"floor{suffix}_loss": float(np.mean(floors)),
                    f"floor{suffix}_loss_std": float(np.std(floors, ddof=1)) if len(floors) > 1 else 0.0,
                    f"lookup{suffix}_loss": loss_on(d, stratum_resampled(d, split, seed), split)})
    out["floor_method"] = "redecay" if d.redecayed else "stratum_resample"
    if c2st:
        n = len(d.angles["test"])
        out["baseline_c2st_auc"] = c2st_auc(d.angles["test"], blind_angles(d, n, seed), d.cond["test"], seed)
        if d.redecayed:
            out["floor_c2st_auc"] = c2st_auc(d.angles["test"], d.redecayed["test"][0], d.cond["test"], seed)
    return out
