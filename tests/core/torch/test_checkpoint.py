"""Checkpoint files: round trip, atomic replacement, unreadable files ignored."""
from __future__ import annotations

import logging

import pytest
import torch
from torch import nn

from uqhpo.torch import load_checkpoint, save_checkpoint
from uqhpo.torch.checkpoint import copy_state_dicts, load_state_dicts, named, remove_checkpoint


def test_round_trip_of_models_optimizers_and_plain_values(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 1))
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    model(torch.randn(8, 3)).sum().backward()
    opt.step()
    path = save_checkpoint(tmp_path / "sub" / "r0.ckpt", {"models": {"m": model.state_dict()},
                                                         "optimizers": {"o": opt.state_dict()},
                                                         "history": [{"epoch": 1, "loss": 0.5}], "seed": 2**63 + 1})
    back = load_checkpoint(path)
    assert back["history"] == [{"epoch": 1, "loss": 0.5}] and back["seed"] == 2**63 + 1
    clone = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 1))
    clone_opt = torch.optim.Adam(clone.parameters(), lr=0.1)
    load_state_dicts({"m": clone}, back["models"])
    load_state_dicts({"o": clone_opt}, back["optimizers"])
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), clone.state_dict().values()))
    assert torch.equal(clone_opt.state_dict()["state"][0]["exp_avg"], opt.state_dict()["state"][0]["exp_avg"])
    assert list(tmp_path.glob("sub/*.tmp")) == []


def test_a_failed_write_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "r0.ckpt", {"epoch": 1})

    def torn_save(obj, f):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", torn_save)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, {"epoch": 2})
    monkeypatch.undo()
    assert load_checkpoint(path) == {"epoch": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r0.ckpt"]


def test_missing_and_unreadable_files_give_none(tmp_path, caplog):
    assert load_checkpoint(tmp_path / "absent.ckpt") is None
    bad = tmp_path / "bad.ckpt"
    bad.write_bytes(b"not a torch file")
    with caplog.at_level(logging.WARNING, logger="uqhpo"):
        assert load_checkpoint(bad) is None
    assert "ignoring unreadable checkpoint" in caplog.text and "bad.ckpt" in caplog.text
    (tmp_path / "bad.ckpt.123.tmp").write_bytes(b"left by a killed writer")
    remove_checkpoint(bad)
    assert list(tmp_path.iterdir()) == []


def test_named_and_state_copies():
    lin = nn.Linear(2, 2)
    assert named(lin, "model") == {"model": lin} and named(None, "x") == {}
    snap = copy_state_dicts({"m": lin})
    with torch.no_grad():
        lin.weight.add_(1.0)
    assert not torch.equal(snap["m"]["weight"], lin.weight)     # a snapshot, not a view
    with pytest.raises(KeyError, match="no saved state for 'other'"):
        load_state_dicts({"other": lin}, snap)
