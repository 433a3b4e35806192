"""``--set key=value`` overrides and naming the settings that changed since a study began."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from uqhpo.config import ConfigError, apply_overrides, changed_settings, describe_changes, load_config

VALID = """\
task: uqhpo.testing.tasks:quadratic
space:
  x: {type: real, low: -2.0, high: 2.0}
strategy: {name: random}
budget: {trials: 4}
uq: {replicates: 3}
seed: 3
"""


def write(tmp_path: Path, text: str, name: str = "study.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_overrides_set_dotted_keys_with_yaml_values():
    raw = {"task": "a:b", "uq": {"replicates": 3}, "strategy": "rbf"}
    out = apply_overrides(raw, ["uq.replicates=2", "executor.workers=4", "strategy.n_initial=5",
                                "space.x={type: real, low: 0, high: 1}", "space.x.log=true", "seed=7",
                                "data.path=d.csv", "uq.kappa=1e-1"])
    assert out["uq"] == {"replicates": 2, "kappa": 0.1}                # YAML 1.1's "1e-1" string: a number
    assert out["executor"] == {"workers": 4} and out["seed"] == 7 and out["data"] == {"path": "d.csv"}
    assert out["strategy"] == {"name": "rbf", "n_initial": 5}          # short form expanded
    assert out["space"]["x"] == {"type": "real", "low": 0, "high": 1, "log": True}
    assert raw["uq"] == {"replicates": 3} and raw["strategy"] == "rbf"  # the input is not changed


@pytest.mark.parametrize("item, expected", [
    ("uq.replicats=2", "--set uq.replicats: unknown key (did you mean 'replicates'?)"),
    ("budjet.trials=2", "--set budjet.trials: unknown key (did you mean 'budget'?)"),
    ("space.x.hihg=2", "--set space.x.hihg: unknown key (did you mean 'high'?)"),
    ("uq.replicates", "--set uq.replicates: expected KEY=VALUE"),
    ("seed.x=1", "--set seed.x: 'seed' is a value, not a section"),
    ("uq..kappa=1", "--set uq..kappa: empty part"),
    ("uq.kappa=[1", "--set uq.kappa: value '[1' is not valid YAML"),
])
def test_bad_override_names_the_key(item, expected):
    with pytest.raises(ConfigError) as info:
        apply_overrides({"task": "a:b", "uq": {}}, [item])
    assert str(info.value).startswith(expected) and "\n" not in str(info.value)


def test_override_into_a_value_that_is_not_a_mapping():
    with pytest.raises(ConfigError, match=r"--set uq.replicates: 'uq' is not a mapping"):
        apply_overrides({"uq": 3}, ["uq.replicates=2"])


def test_load_config_applies_overrides_and_blames_them_for_bad_values(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, VALID)
    cfg = load_config(path, overrides=["uq.replicates=2", "budget.trials=9", "study=other"])
    assert cfg.uq.replicates == 2 and cfg.budget.trials == 9 and cfg.study == "other"
    assert cfg.storage == "sqlite:///runs/other/study.db"
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides=["uq.replicates=0"])
    assert str(info.value) == "--set uq.replicates: input should be greater than or equal to 1, got 0"
    with pytest.raises(ConfigError, match=r"^.*study.yaml: seed: "):  # a bad key in the file names the file
        load_config(write(tmp_path, VALID.replace("seed: 3", "seed: x")), overrides=["uq.replicates=2"])


def test_changed_settings_name_each_change(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    old = load_config(write(tmp_path, VALID))
    stored = json.loads(json.dumps(old.to_dict()))
    stored_space = old.search_space.to_dict()
    assert changed_settings(stored, stored_space, old) == []
    assert changed_settings(stored, stored_space, load_config(write(tmp_path, VALID), overrides=[
        "budget.trials=40", "executor.workers=2", "uq.replicates_parallel=false"])) == []  # may change on resume

    new = load_config(write(tmp_path, VALID), overrides=["uq.replicates=2", "space.x.high=3.0"])
    changes = changed_settings(stored, stored_space, new)
    assert changes == [("uq.replicates", 3, 2), ("space.x.high", 2.0, 3.0)]
    text = describe_changes(changes[:1], "s")
    assert text.startswith("uq.replicates changed from 3 to 2 since study 's' was created; use a new study name")
    both = describe_changes(changes, "s")
    assert "uq.replicates changed from 3 to 2 and space.x.high changed from 2.0 to 3.0" in both
    assert "\n" not in both

    with_data = load_config(write(tmp_path, VALID), overrides=["data.n=5"], check_task=False)
    gone = changed_settings(stored, with_data.search_space.to_dict(), with_data)
    assert gone == [("data.n", None, 5)] and "(absent)" in describe_changes(gone, "s")


def test_changed_settings_fill_defaults_of_the_stored_config(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config(write(tmp_path, VALID))
    stored = cfg.to_dict()
    del stored["uq"]["kappa"], stored["direction"]     # an older config that left defaults out
    assert changed_settings(stored, cfg.search_space.to_dict(), cfg) == []


def test_pruner_options_can_be_set_one_by_one():
    raw = apply_overrides({"task": "x", "budget": {"trials": 3}}, ["pruner.name=asha", "pruner.min_steps=2"])
    assert raw["pruner"] == {"name": "asha", "min_steps": 2}
    with pytest.raises(ConfigError, match="pruner.min_step: unknown key"):
        apply_overrides({"task": "x"}, ["pruner.min_step=2"])
