"""Cases 6 and 10: concurrent clients propose unique configs; names never escape folders."""
from __future__ import annotations

import multiprocessing
import os
import stat
from pathlib import Path

import uqhpo


def _client(url: str, n: int) -> None:
    study = uqhpo.create_study(task="hostile_tasks:plain_function", space=_space(), strategy="random", seed=0,
                               storage=url, name="shared", load_if_exists=True)
    for _ in range(n):
        trial = study.ask()
        study.tell(trial, [(trial.config["x"] - 0.3) ** 2])


def _space() -> uqhpo.Space:
    return uqhpo.Space({"x": uqhpo.Real(0.0, 1.0), "y": uqhpo.Real(0.0, 1.0)})


def test_eight_concurrent_clients_propose_unique_configs(tmp_path):
    url = f"sqlite:///{tmp_path}/shared.db"
    uqhpo.create_study(space=_space(), strategy="random", seed=0, storage=url, name="shared")
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_client, args=(url, 25)) for _ in range(8)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)
    assert [p.exitcode for p in procs] == [0] * 8
    trials = uqhpo.load_study(url, "shared").all_trials()
    assert len(trials) == 200 and all(t.state.value == "COMPLETE" for t in trials)
    keys = [tuple(sorted(t.config.items())) for t in trials]
    assert len(keys) - len(set(keys)) <= 2  # at most 1 % duplicates


def test_hostile_study_names_stay_inside_their_folders(ws):
    for name in ("../../escape", "/abs/path"):
        ws.cli("run", ws.config(name="plain", study=name, storage=None), "--quiet", check_rc=0)
    assert not (ws.root.parent / "escape").exists() and not Path("/abs/path").exists()
    made = sorted(p.name for p in (ws.root / "runs").iterdir())
    assert len(made) == 2 and all("/" not in m and not m.startswith(".") for m in made)


def test_in_memory_workdir_is_private_and_ignores_planted_links(tmp_path, monkeypatch):
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    victim = tmp_path / "victim"
    victim.mkdir()
    (tmp_path / "uqhpo-trials").mkdir()
    os.symlink(victim, tmp_path / "uqhpo-trials" / "default-0")   # the old fixed, predictable folder

    def task(config: dict, ctx: uqhpo.TrialContext) -> float:
        ctx.checkpoint_path.write_text("x")
        return config["x"]

    study = uqhpo.create_study(space=_space(), strategy="random", seed=0)
    study.optimize(task, n_trials=2)
    assert list(victim.iterdir()) == []
    [private] = [p for p in tmp_path.iterdir() if p.name.startswith("uqhpo-trials-")]
    assert stat.S_IMODE(private.stat().st_mode) == 0o700 and list(private.rglob("*.ckpt"))
