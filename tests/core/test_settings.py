"""StudySettings: validated, frozen, and round-tripped through the stored JSON."""
from __future__ import annotations

import dataclasses

import pytest

from uqhpo.settings import StudySettings


def test_round_trip_through_the_stored_form():
    s = StudySettings(direction="maximize", seed=7, strategy="gp", strategy_options={"n_initial": 4}, kappa=0.5,
                      n_replicates=3, mc_dropout=2, adaptive=True, n_trials=20, user={"config": {"a": 1}})
    assert StudySettings.from_stored(s.to_stored(), direction="maximize", seed=7) == s


def test_old_stored_settings_still_read():
    old = {"strategy": "rbf", "kappa": 1.0, "n_replicates": 2, "adaptive_replicates": False}
    s = StudySettings.from_stored(old, direction="minimize", seed=0)
    assert (s.n_replicates, s.n_trials, s.strategy_options, s.user) == (2, None, {}, {})


def test_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        StudySettings().kappa = 2.0  # type: ignore[misc]


@pytest.mark.parametrize("bad, match", [
    ({"kappa": -1.0}, "kappa"), ({"kappa": float("nan")}, "kappa"), ({"n_replicates": 0}, "n_replicates"),
    ({"direction": "up"}, "direction"), ({"n_trials": 0}, "n_trials"), ({"mc_dropout": -1}, "mc_dropout")])
def test_invalid_values_name_the_setting(bad, match):
    with pytest.raises(ValueError, match=match):
        StudySettings(**bad)


def test_replicates_per_new_trial():
    assert StudySettings(n_replicates=3).replicates_per_new_trial == 3
    assert StudySettings(n_replicates=3, adaptive=True).replicates_per_new_trial == 1
