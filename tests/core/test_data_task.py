"""DataTask: validated settings with defaults, a dataset cached by settings and file, check()."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from uqhpo.data_task import DataTask
from uqhpo.space import Real, Space


class CsvSum(DataTask):
    """Reads numbers from a text file; ``scale`` multiplies them."""

    data_defaults = {"path": "numbers.txt", "scale": 1.0, "max_rows": None}

    def __init__(self):                 # no super().__init__(): the base must not need it
        self.loads = 0

    def validate_data(self, data):
        data = super().validate_data(data)
        if "scale" in data and not isinstance(data["scale"], (int, float)):
            raise ValueError(f"data.scale must be a number, got {data['scale']!r}")
        return data

    def load(self, settings):
        self.loads += 1
        rows = open(settings["path"]).read().split()[: settings["max_rows"]]
        return [float(v) * settings["scale"] for v in rows]

    def search_space(self):
        return Space({"x": Real(0, 1)})

    def run(self, config, ctx):
        return sum(self.dataset()) * config["x"]


@pytest.fixture
def numbers(tmp_path):
    path = tmp_path / "numbers.txt"
    path.write_text("1 2 3")
    return path


def test_settings_are_defaults_overridden_by_configure(numbers):
    t = CsvSum()
    assert t.settings() == {"path": "numbers.txt", "scale": 1.0, "max_rows": None}
    t.configure({"path": str(numbers), "scale": 2})
    assert t.settings() == {"path": str(numbers), "scale": 2, "max_rows": None}
    t.configure({})                                             # replaces, does not merge
    assert t.settings()["path"] == "numbers.txt"


def test_unknown_key_names_it_and_the_closest_known_one():
    with pytest.raises(ValueError, match=r"unknown data key 'max_row' for CsvSum; did you mean 'max_rows'\?"):
        CsvSum().configure({"max_row": 3})
    with pytest.raises(ValueError, match="unknown data key 'zzz' for CsvSum; known: max_rows, path, scale"):
        CsvSum().configure({"zzz": 1})
    with pytest.raises(ValueError, match="data.scale must be a number"):
        CsvSum().configure({"scale": "big"})
    with pytest.raises(ValueError, match="must be a mapping"):
        CsvSum().configure(["path"])


def test_dataset_is_cached_until_settings_or_file_change(numbers):
    t = CsvSum()
    t.configure({"path": str(numbers)})
    assert t.dataset() == [1.0, 2.0, 3.0] and t.dataset() is t.dataset() and t.loads == 1
    t.configure({"path": str(numbers), "scale": 10})
    assert t.dataset() == [10.0, 20.0, 30.0] and t.loads == 2
    numbers.write_text("4 5 6")
    st = numbers.stat()
    os.utime(numbers, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))   # a rewrite within the clock tick
    assert t.dataset() == [40.0, 50.0, 60.0] and t.loads == 3
    assert t.run({"x": 0.5}, None) == 75.0 and t.loads == 3


def test_check_names_a_missing_file(tmp_path):
    t = CsvSum()
    t.configure({"path": str(tmp_path / "absent.txt")})
    with pytest.raises(FileNotFoundError, match=r"data.path: data file '.*absent.txt' does not exist"):
        t.check()


def test_ensure_data_may_create_the_file(tmp_path):
    class Generating(CsvSum):
        generates_missing_data = True

        def ensure_data(self, settings):
            if not os.path.exists(settings["path"]):
                open(settings["path"], "w").write("7")

    t = Generating()
    t.configure({"path": str(tmp_path / "made.txt")})
    t.check()
    assert t.dataset() == [7.0]


def test_a_task_without_a_data_file_and_load_must_be_written(tmp_path):
    class NoFile(DataTask):
        data_defaults = {"n": 3}
        data_path_key = None

    with pytest.raises(NotImplementedError, match="NoFile must implement load"):
        NoFile().dataset()


def test_import_is_light():
    code = "import sys, uqhpo.data_task; print('torch' in sys.modules or 'pydantic' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
