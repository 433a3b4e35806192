"""Every figure kind rendered with Agg to a real, non-empty file; the HTML page and the CLI."""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import uqhpo
from uqhpo.cli import main
from uqhpo.plotting.kinds import KINDS, PlotOptions, render
from uqhpo.space import Categorical, Integer, Real, Space
from uqhpo.trial import State

PNG = b"\x89PNG"


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A stored study with replicates, a failed trial, per-epoch reports and times."""
    path = tmp_path_factory.mktemp("plots") / "study.db"
    space = Space({"lr": Real(1e-3, 1e-1, log=True), "depth": Integer(1, 4), "act": Categorical(["relu", "tanh"])})
    s = uqhpo.create_study(space, strategy="rbf", strategy_options={"n_initial": 5}, n_replicates=2, seed=3,
                           storage=f"sqlite:///{path}", name="demo")
    rng = np.random.default_rng(0)
    for i in range(12):
        trial = s.ask()
        base = (np.log10(trial.config["lr"]) + 2) ** 2 + 0.1 * trial.config["depth"]
        for rep in trial.waiting():
            claimed = s.storage.claim(s.name, worker=f"w{rep.index}", trial=trial.number, index=rep.index,
                                      now=100.0 + 3 * i)
            for epoch in (1, 2, 3):
                s.storage.add_report(s.name, trial.number, rep.index, claimed.attempt, epoch,
                                     {"val_loss": base + 1.0 / epoch})
            state = State.FAILED if i == 7 else State.COMPLETE
            s.storage.finish(s.name, trial.number, rep.index, claimed.attempt, state,
                             loss=None if i == 7 else base + 0.05 * rng.standard_normal(),
                             error="diverged" if i == 7 else None, now=102.0 + 3 * i + rep.index)
    return s


@pytest.mark.parametrize("kind", [k for k in KINDS if k not in ("all", "html")])
def test_each_kind_writes_a_non_empty_png(study, tmp_path, kind):
    options = PlotOptions(formats=("png",), x="lr", group="epoch" if kind == "param" else None, sobol_samples=256)
    written = render(study, kind, tmp_path, options)
    assert written and all(p.suffix == ".png" for p in written)
    for p in written:
        assert p.read_bytes()[:4] == PNG and p.stat().st_size > 5000


def test_png_and_pdf_by_default_and_group_by_hyperparameter(study, tmp_path):
    written = render(study, "param", tmp_path, PlotOptions(x="lr", group="act"))
    assert [p.name for p in written] == ["param_lr_by_act.png", "param_lr_by_act.pdf"]
    assert written[1].read_bytes()[:4] == b"%PDF"


def test_html_page_is_self_contained_and_lists_every_trial(study, tmp_path):
    [page] = render(study, "html", tmp_path)
    raw = page.read_text()
    # plotly escapes <, > and / inside its JSON
    text = raw.replace("\\u003c", "<").replace("\\u003e", ">").replace("\\u002f", "/")
    assert page.suffix == ".html" and "<script src=\"http" not in text      # plotly.js embedded: offline
    assert "Plotly.newPlot" in text and len(text) > 1_000_000
    for t in study.all_trials():
        assert f"<b>trial {t.number}</b>" in text or t.state.value == "FAILED"
        assert json.dumps(str(t.number)) in text                           # the table lists every trial
    best = study.best
    assert f"lr = {best.config['lr']:.6g}" in text and "replicates: " in text and "FAILED" in text


def test_cli_plot_all_and_single_file(study, tmp_path, capsys):
    db = study.storage.path
    assert main(["plot", str(db), "--kind", "all", "--out", str(tmp_path / "figs"), "--format", "png"]) == 0
    out = capsys.readouterr().out
    names = {p.name for p in (tmp_path / "figs").iterdir()}
    assert {"convergence.png", "loss_variability.png", "sensitivity.png", "slices.png", "timeline.png",
            "curves.png", "demo.html"} <= names
    assert "utilization" in out
    assert main(["plot", str(db), "--kind", "timeline", "--out", str(tmp_path / "one" / "t.png")]) == 0
    assert {p.name for p in (tmp_path / "one").iterdir()} == {"t.png", "t.pdf"}
    assert main(["plot", str(db), "--kind", "param"]) == 2
    assert "--kind param needs --x" in capsys.readouterr().err


def test_importing_uqhpo_stays_light():
    code = textwrap.dedent("""
        import sys, uqhpo, uqhpo.cli, uqhpo.cli_analysis, uqhpo.plotting.kinds, uqhpo.analysis.focus
        uqhpo.cli.build_parser()
        print([m for m in ("matplotlib", "plotly", "torch", "pydantic") if m in sys.modules])
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
