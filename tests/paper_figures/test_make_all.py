"""make_all: per-app scripts get their app's config for the preset (and its study built first)."""
from __future__ import annotations

import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
make_all = runpy.run_path(str(ROOT / "paper_figures" / "make_all.py"), run_name="make_all")


def test_app_scripts_get_their_apps_preset_config_and_method_figures_none():
    here = ROOT / "paper_figures"
    assert make_all["app_config"](here / "ct_reconstruction.py", "paper") == ROOT / "apps/ct/configs/paper.yaml"
    assert make_all["app_config"](here / "hadronization_spread.py", "quick") == \
        ROOT / "apps/hadronization/configs/quick.yaml"
    assert make_all["app_config"](here / "fig_timeline.py", "quick") is None


def test_every_app_script_has_both_presets():
    for script in make_all["scripts"]():
        if not script.stem.startswith("fig_"):
            for preset in ("quick", "paper"):
                assert make_all["app_config"](script, preset) is not None, (script.name, preset)
