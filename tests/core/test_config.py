"""YAML config validation: every malformed config gives its own one-line message."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from uqhpo.config import ConfigError, load_config, storage_url, validate_config

VALID = """\
task: uqhpo.testing.tasks:quadratic
space:
  x: {type: real, low: -2.0, high: 2.0}
strategy: {name: random}
budget: {trials: 4}
uq: {replicates: 2, kappa: 0.5}
executor: {name: serial, workers: 1}
seed: 3
"""


def write(tmp_path: Path, text: str, name: str = "study.yaml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def replace(old: str, new: str) -> str:
    assert old in VALID
    return VALID.replace(old, new)


# (config text, substrings the one-line message must contain)
MALFORMED = {
    "misspelled top key": (VALID + "budjet: {trials: 3}\n", ["budjet", "unknown key", "did you mean 'budget'"]),
    "misspelled nested key": (replace("replicates: 2", "replicats: 2"),
                              ["uq.replicats", "did you mean 'replicates'"]),
    "wrong type": (replace("replicates: 2", "replicates: two"), ["uq.replicates", "integer", "'two'"]),
    "float for int": (replace("trials: 4", "trials: 4.5"), ["budget.trials", "integer"]),
    "zero trials": (replace("trials: 4", "trials: 0"), ["budget.trials", "greater than 0"]),
    "negative kappa": (replace("kappa: 0.5", "kappa: -1"), ["uq.kappa", "greater than or equal to 0"]),
    "missing task": (VALID.replace("task: uqhpo.testing.tasks:quadratic\n", ""), ["task", "required"]),
    "missing budget": (VALID.replace("budget: {trials: 4}\n", ""), ["budget", "required"]),
    "low > high": (replace("low: -2.0, high: 2.0", "low: 3.0, high: 2.0"), ["space.x", "low (3.0)", "high (2.0)"]),
    "log with low <= 0": (replace("low: -2.0, high: 2.0", "low: 0.0, high: 2.0, log: true"),
                          ["space.x", "log scale needs low > 0"]),
    "unknown param type": (replace("type: real", "type: reel"), ["space.x.type", "'reel'", "did you mean 'real'"]),
    "unknown param key": (replace("high: 2.0}", "high: 2.0, hihg: 3}"), ["space.x.hihg", "did you mean 'high'"]),
    "param not in task": (replace("  x: {type: real", "  xx: {type: real"),
                          ["space.xx", "no parameter 'xx'", "did you mean 'x'"]),
    "unknown strategy": (replace("name: random", "name: rbff"), ["strategy.name", "'rbff'", "did you mean 'rbf'"]),
    "bad strategy option": (replace("{name: random}", "{name: grid, levelz: 3}"), ["strategy", "levelz"]),
    "unknown executor": (replace("name: serial", "name: seriel"), ["executor.name", "did you mean 'serial'"]),
    "zero workers": (replace("workers: 1", "workers: 0"), ["executor.workers", "greater than or equal to 1"]),
    "scheduler address without dask": (replace("name: serial", "name: local, address: 'tcp://h:8786'"),
                                       ["executor: address and scheduler_file need name: dask"]),
    "task module missing": (replace("uqhpo.testing.tasks:quadratic", "uqhpo.nope:task"),
                            ["task", "uqhpo.nope:task", "cannot import"]),
    "task attribute missing": (replace("tasks:quadratic", "tasks:quadratik"), ["task", "quadratik"]),
    "task path without colon": (replace("uqhpo.testing.tasks:quadratic", "uqhpo.testing.tasks"),
                                ["task", "package.module:attribute"]),
    "data file missing": (replace("uqhpo.testing.tasks:quadratic", "uqhpo.apps.template:task")
                          .replace("  x: {type: real, low: -2.0, high: 2.0}\n",
                                   "  dropout: {type: real, low: 0.0, high: 0.2}\n")
                          + "data: {path: no/such/file.h5}\n", ["data.path", "no/such/file.h5", "does not exist"]),
    "data for a task without configure": (VALID + "data: {n: 3}\n", ["data", "takes no data"]),
    "section not a mapping": (replace("uq: {replicates: 2, kappa: 0.5}", "uq: 3"), ["uq", "expected a mapping"]),
    "study as a mapping": (VALID + "study: {name: s}\n", ["study", "valid string"]),
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_config_gives_one_line_naming_the_key(tmp_path, monkeypatch, name):
    monkeypatch.chdir(tmp_path)
    text, expected = MALFORMED[name]
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match=r"config file '.*nothere.yaml' not found"):
        load_config(tmp_path / "nothere.yaml")


def test_invalid_yaml_names_file_and_line(tmp_path):
    path = write(tmp_path, "task: a:b\nbudget: {trials: 3\nseed: 1\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message and "invalid YAML at line" in message and "\n" not in message


def test_top_level_must_be_a_mapping(tmp_path):
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(write(tmp_path, "- a\n- b\n"))


def test_valid_config_defaults_and_effective_space(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config(write(tmp_path, VALID, "my-study.yaml"))
    assert cfg.study == "my-study"                     # from the file name
    assert cfg.storage == "sqlite:///runs/my-study/study.db"
    assert cfg.output_dir == (tmp_path / "runs" / "my-study").resolve()
    assert cfg.uq.replicates == 2 and cfg.uq.kappa == 0.5 and cfg.uq.mc_dropout == 0
    assert cfg.uq.replicates_parallel is True
    space = cfg.search_space
    assert space.names == ["x", "y", "n", "act"]        # the task's space, x overridden
    assert (space["x"].low, space["x"].high) == (-2.0, 2.0)
    assert space["y"].low == -5.0


def test_round_trip_through_stored_dict(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cfg = load_config(write(tmp_path, VALID))
    stored = json.loads(json.dumps(cfg.to_dict()))      # what the study's settings hold
    again = validate_config(stored)
    assert again.to_dict() == cfg.to_dict()
    assert again.config_hash() == cfg.config_hash()
    assert again.search_space == cfg.search_space


def test_hash_ignores_budget_but_not_objective(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    base = load_config(write(tmp_path, VALID)).config_hash()
    assert load_config(write(tmp_path, replace("trials: 4", "trials: 40"))).config_hash() == base
    assert load_config(write(tmp_path, replace("kappa: 0.5", "kappa: 1.5"))).config_hash() != base
    assert load_config(write(tmp_path, replace("high: 2.0", "high: 3.0"))).config_hash() != base


def test_strategy_string_and_yaml11_exponent(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = replace("{name: random}", "random").replace("low: -2.0, high: 2.0", "low: 1e-3, high: 1e1, log: true")
    cfg = load_config(write(tmp_path, text))
    assert cfg.strategy.name == "random"
    assert cfg.search_space["x"].low == pytest.approx(1e-3) and cfg.search_space["x"].log


def test_relative_paths_resolve_against_the_config_folder(tmp_path, monkeypatch):
    from uqhpo.apps.template.data import write_hdf5

    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    project = tmp_path / "project"
    write_hdf5(project / "d" / "t.h5", n_rows=60, seed=1)
    text = replace("uqhpo.testing.tasks:quadratic", "uqhpo.apps.template:task").replace(
        "  x: {type: real, low: -2.0, high: 2.0}\n", "  epochs: {type: integer, low: 1, high: 2}\n")
    path = write(project, text + "data: {path: d/t.h5, max_rows: 50}\nstorage: out/s.db\noutput: out\n")
    cfg = load_config(path)
    assert cfg.data == {"path": str((project / "d" / "t.h5").resolve()), "max_rows": 50}
    assert cfg.storage == f"sqlite:///{(project / 'out' / 's.db').resolve()}"
    assert cfg.output_dir == (project / "out").resolve()
    # omitted storage and output: runs/<study> under the current directory
    cfg = load_config(write(project, text + "data: {path: d/t.h5}\n", "other.yaml"))
    assert cfg.storage == "sqlite:///runs/other/study.db"
    assert cfg.output_dir == (tmp_path / "elsewhere" / "runs" / "other").resolve()


@pytest.mark.parametrize("location, expected", [
    ("x.db", "sqlite:///{base}/x.db"), ("sub/x.jsonl", "journal:///{base}/sub/x.jsonl"),
    ("sqlite:///rel/x.db", "sqlite:///{base}/rel/x.db"), ("sqlite:////abs/x.db", "sqlite:////abs/x.db"),
    ("journal:///j.jsonl", "journal:///{base}/j.jsonl"), ("memory", "memory"),
])
def test_storage_url_resolves_relative_files(tmp_path, location, expected):
    assert storage_url(location, tmp_path) == expected.format(base=tmp_path.resolve())
    assert storage_url("x.db") == "sqlite:///x.db"          # no base: left relative to the current folder


def test_reading_a_config_does_not_need_its_data_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = replace("uqhpo.testing.tasks:quadratic", "uqhpo.apps.template:task") + "data: {path: gone.h5}\n"
    path = write(tmp_path, text)
    cfg = load_config(path, check_task=False)             # what status/best/export/plot do
    assert cfg.data["path"] == str(tmp_path / "gone.h5") and cfg.storage == "sqlite:///runs/study/study.db"
    with pytest.raises(ConfigError, match="data.path: file .*gone.h5' does not exist"):
        load_config(path)


def test_task_module_next_to_the_config_imports(tmp_path, monkeypatch):
    import sys

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))    # load_config(import_dirs=True) extends it
    project = tmp_path / "proj"
    project.mkdir()
    (project / "cfg_side_task.py").write_text(
        "import uqhpo\n"
        "class T(uqhpo.Task):\n"
        "    def search_space(self): return uqhpo.Space({'x': uqhpo.Real(0, 1)})\n"
        "    def run(self, config, ctx): return config['x']\n"
        "task = T()\n")
    text = VALID.replace("uqhpo.testing.tasks:quadratic", "cfg_side_task:task").replace(
        "  x: {type: real, low: -2.0, high: 2.0}\n", "  x: {type: real, low: 0.0, high: 0.5}\n")
    path = write(project, text)
    cfg = load_config(path, import_dirs=True)
    assert cfg.search_space.names == ["x"] and str(project) in sys.path

    missing = write(project, text.replace("cfg_side_task:task", "not_there_task:task"), "missing.yaml")
    with pytest.raises(ConfigError) as info:
        load_config(missing, import_dirs=True)
    message = str(info.value)
    assert "\n" not in message and "cannot import module 'not_there_task'" in message
    assert str(tmp_path) in message and str(project) in message   # the folders searched


def test_task_check_failure_is_reported(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n3,nan\n")
    (tmp_path / "checking_task_for_config_test.py").write_text(
        "import uqhpo\n"
        "class T(uqhpo.Task):\n"
        "    def configure(self, data): self.path = data['path']\n"
        "    def check(self): raise ValueError(f\"data file '{self.path}': 1 row(s) contain NaN\")\n"
        "    def search_space(self): return uqhpo.Space({'x': uqhpo.Real(0, 1)})\n"
        "    def run(self, config, ctx): return config['x']\n"
        "task = T()\n")
    text = VALID.replace("uqhpo.testing.tasks:quadratic", "checking_task_for_config_test:task").replace(
        "  x: {type: real, low: -2.0, high: 2.0}\n", "  x: {type: real, low: 0.0, high: 0.5}\n")
    with pytest.raises(ConfigError, match=r"data: data file '.*bad.csv': 1 row\(s\) contain NaN"):
        load_config(write(tmp_path, text + "data: {path: bad.csv}\n"))


def test_missing_data_file_allowed_only_for_tasks_that_generate_it(tmp_path, monkeypatch):
    from uqhpo.config import ConfigError, validate_config
    module = tmp_path / "gen_tasks_for_config_test.py"
    module.write_text(
        "import uqhpo\n"
        "class _Base(uqhpo.Task):\n"
        "    def configure(self, data): self.data = data\n"
        "    def search_space(self): return uqhpo.Space({'x': uqhpo.Real(0, 1)})\n"
        "    def run(self, config, ctx): return config['x']\n"
        "class Generates(_Base):\n"
        "    generates_missing_data = True\n"
        "generates = Generates()\n"
        "plain = _Base()\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    missing = str(tmp_path / "not_yet.h5")
    cfg = validate_config({"task": "gen_tasks_for_config_test:generates", "study": "g", "budget": {"trials": 2},
                           "data": {"path": missing}})
    assert cfg.data["path"] == missing
    with pytest.raises(ConfigError, match=r"data\.path: file .*not_yet\.h5' does not exist"):
        validate_config({"task": "gen_tasks_for_config_test:plain", "study": "p", "budget": {"trials": 2},
                         "data": {"path": missing}})
