"""Upstream's ``tests/test_hp_generation.py``, ported, plus the int settings from quantized spaces.

The five upstream tests are unchanged except that their ``for`` loops' ``assert False``
became direct asserts; no Keras 3 or Spark change was needed.
"""

from __future__ import annotations

import numpy as np
import pytest

from cerebro.tune import hp_choice, hp_loguniform, hp_qloguniform, hp_quniform, hp_uniform
from cerebro.tune.searchers import RandomSearcher, TPESearcher


# ---- upstream's tests -------------------------------------------------------------------
def test_hp_choice():
    options = [['x', 'y', 'z'], [1.0, 2.0, 22.0]]
    for option in options:
        temp = hp_choice(option)
        for _ in range(10):
            assert temp.sample_value() in option


def test_hp_uniform():
    temp = hp_uniform(0, 100)
    for _ in range(10):
        assert 0 <= temp.sample_value() <= 100


def test_hp_quniform():
    q = 3
    temp = hp_quniform(0, 100, q)
    for _ in range(10):
        sv = temp.sample_value()
        assert 0 <= sv <= 100 and sv % q == 0


def test_hp_loguniform():
    temp = hp_loguniform(-4, -1)
    for _ in range(10):
        assert np.power(0.1, 4) <= temp.sample_value() <= np.power(0.1, 1)


def test_hp_qloguniform():
    temp = hp_qloguniform(-4, -1, 0.0005)
    for _ in range(10):
        # upstream skipped the multiple-of-q check for float precision; so do we
        assert np.power(0.1, 4) <= temp.sample_value() <= np.power(0.1, 1)


# ---- beyond upstream's asserts ----------------------------------------------------------
def test_sample_value_is_seeded_like_upstream(monkeypatch):
    """Each object has its own generator seeded with CEREBRO_RANDOM_SEED (default 2020)."""
    a = [hp_uniform(0, 1).sample_value() for _ in range(3)]
    assert len(set(a)) == 1, "a fresh object starts the same sequence"
    one = hp_uniform(0, 1)
    seq = [one.sample_value() for _ in range(5)]
    assert len(set(seq)) == 5
    monkeypatch.setenv("CEREBRO_RANDOM_SEED", "7")
    assert hp_uniform(0, 1).sample_value() != a[0]
    monkeypatch.setenv("CEREBRO_RANDOM_SEED", "seven")
    with pytest.raises(ValueError, match="CEREBRO_RANDOM_SEED must be an integer"):
        hp_uniform(0, 1).sample_value()


def test_hp_choice_refuses_a_string():
    with pytest.raises(TypeError, match="list of options"):
        hp_choice("abc")


@pytest.mark.parametrize("searcher", ["random", "tpe"])
def test_quantized_whole_q_gives_ints_from_every_searcher(searcher):
    """hyperopt's quniform hands out 64.0; upstream's estimator converted it with toInt."""
    space = {"batch_size": hp_quniform(16, 256, 16), "units": hp_quniform(8, 64, 8),
             "lr": hp_qloguniform(-4, -1, 0.0005), "dropout": hp_quniform(0, 0.5, 0.1)}
    s = RandomSearcher(space, 25, 0) if searcher == "random" else TPESearcher(space, 25, 0)
    points = []
    while (p := s.ask()) is not None:
        points.append(p[1])
        s.tell(p[0], float(p[1]["batch_size"]))
    assert len(points) == 25
    for p in points:
        assert type(p["batch_size"]) is int and p["batch_size"] % 16 == 0
        assert 16 <= p["batch_size"] <= 256
        assert type(p["units"]) is int and p["units"] % 8 == 0
        assert type(p["lr"]) is float and type(p["dropout"]) is float
