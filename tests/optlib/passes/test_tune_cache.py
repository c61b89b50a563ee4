"""The tuning cache: a second optimize of the same model builds only the remembered winner; any
change that could change the winner is a different key; a stale or broken entry is re-measured."""

from __future__ import annotations

import json
import time

import pytest
import torch
from torch import nn

import optlib
from optlib.passes import autotune, tune_cache
from optlib.passes.autotune import contended, select_fastest_cached


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("OPTLIB_TUNE_CACHE", "1")
    monkeypatch.setenv("OPTLIB_CACHE_DIR", str(tmp_path))
    return tmp_path / "tune"


class _Counting:
    """Builders that count how often each candidate was built."""

    def __init__(self, **outputs_offset: float) -> None:
        self.built: list[str] = []
        self.offsets = outputs_offset

    def builders(self):
        def make(name):
            def build():
                self.built.append(name)
                return lambda x: x * 2 + self.offsets.get(name, 0.0)
            return build
        return {name: make(name) for name in ("a", "b", "c")}


def test_second_selection_builds_only_the_remembered_winner(cache):
    x = torch.ones(4)
    first = _Counting()
    chosen, _, report = select_fastest_cached("k1", first.builders(), (x,), x * 2, 1e-4, 0.01)
    assert sorted(first.built) == ["a", "b", "c"] and not report.cached
    assert json.loads((cache / "k1.json").read_text())["chosen"] == chosen

    second = _Counting()
    again, runner, report = select_fastest_cached("k1", second.builders(), (x,), x * 2, 1e-4, 0.01)
    assert (again, second.built, report.cached) == (chosen, [chosen], True)
    torch.testing.assert_close(runner(x), x * 2)
    assert "earlier run" in report.summary()


def _threaded(delays: dict[str, float]):
    def make(delay):
        def run(x):
            time.sleep(delay)
            return x * 2
        return lambda: run
    return {name: make(delay) for name, delay in delays.items()}


def test_a_choice_made_while_the_cores_were_busy_is_used_but_not_remembered(cache, monkeypatch):
    # Two threads 6x slower than one is the signature of a busy machine, not of the model.
    monkeypatch.setattr(autotune, "_CONTENDED_PAUSES_S", ())
    x = torch.ones(4)
    busy = _threaded({"eager": 0.03, "eager@1t": 0.005})
    chosen, _, report = select_fastest_cached("k3", busy, (x,), x * 2, 1e-4, 0.05)
    assert chosen == "eager@1t" and contended(report)
    assert not (cache / "k3.json").exists()
    # The same race on free cores (two threads faster) is remembered.
    free = _threaded({"eager": 0.005, "eager@1t": 0.01})
    chosen, _, report = select_fastest_cached("k3", free, (x,), x * 2, 1e-4, 0.05)
    assert chosen == "eager" and not contended(report)
    assert json.loads((cache / "k3.json").read_text())["chosen"] == "eager"


def test_a_remembered_winner_that_is_now_wrong_is_forgotten_and_remeasured(cache):
    x = torch.ones(4)
    cache.mkdir(parents=True)
    (cache / "k2.json").write_text(json.dumps({"chosen": "a", "report": {"chosen": "a", "candidates": []}}))
    counting = _Counting(a=1.0)  # "a" now gives a wrong answer
    chosen, _, report = select_fastest_cached("k2", counting.builders(), (x,), x * 2, 1e-4, 0.01)
    assert chosen in ("b", "c") and not report.cached
    assert counting.built.count("a") == 2  # the cached try, then the full measurement
    assert json.loads((cache / "k2.json").read_text())["chosen"] == chosen


@pytest.mark.parametrize("content", ["{not json", json.dumps({"chosen": 3}), json.dumps(["a"])])
def test_a_corrupt_entry_is_ignored_and_replaced(cache, content):
    x = torch.ones(4)
    cache.mkdir(parents=True)
    (cache / "k3.json").write_text(content)
    counting = _Counting()
    chosen, _, report = select_fastest_cached("k3", counting.builders(), (x,), x * 2, 1e-4, 0.01)
    assert sorted(counting.built) == ["a", "b", "c"] and not report.cached
    assert json.loads((cache / "k3.json").read_text())["chosen"] == chosen


def test_turned_off_by_the_environment(cache, monkeypatch):
    monkeypatch.setenv("OPTLIB_TUNE_CACHE", "0")
    assert tune_cache.cache_dir() is None
    x = torch.ones(4)
    assert not tune_cache.enabled()
    counting = _Counting()
    select_fastest_cached("k4", counting.builders(), (x,), x * 2, 1e-4, 0.01)
    select_fastest_cached("k4", counting.builders(), (x,), x * 2, 1e-4, 0.01)
    assert sorted(counting.built) == ["a", "a", "b", "b", "c", "c"]  # measured both times
    assert not cache.exists()


def _mlp(hidden: int = 16) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, hidden), nn.ReLU(), nn.Linear(hidden, 4)).eval()


class _Scaled(nn.Module):
    def __init__(self, factor: float) -> None:
        super().__init__()
        self.linear = nn.Linear(8, 4)
        self.factor = factor

    def forward(self, x):
        return self.linear(x) * self.factor


class _ScaledTwice(_Scaled):
    def forward(self, x):
        return self.linear(x) * self.factor * 2


def test_key_follows_what_can_change_the_winner():
    x = torch.randn(2, 8)
    names = ("eager", "torchscript")
    base = tune_cache.tune_key("s", _mlp(), (x,), None, names)
    trained = _mlp()
    with torch.no_grad():
        trained[0].weight.add_(1.0)
    assert tune_cache.tune_key("s", trained, (x,), None, names) == base  # values do not matter
    assert tune_cache.tune_key("s", _mlp(32), (x,), None, names) != base  # shapes do
    assert tune_cache.tune_key("s", _mlp(), (torch.randn(3, 8),), None, names) != base
    assert tune_cache.tune_key("s", _mlp(), (x,), torch.bfloat16, names) != base
    assert tune_cache.tune_key("s", _mlp(), (x,), None, names[:1]) != base
    assert tune_cache.tune_key("other", _mlp(), (x,), None, names) != base
    # The model's code is part of it: the same structure with another forward is another model.
    assert tune_cache.tune_key("s", _Scaled(1.0), (x,), None, names) != \
        tune_cache.tune_key("s", _ScaledTwice(1.0), (x,), None, names)
    previous = torch.get_num_threads()
    torch.set_num_threads(1 if previous > 1 else 2)
    try:
        assert tune_cache.tune_key("s", _mlp(), (x,), None, names) != base
    finally:
        torch.set_num_threads(previous)


def test_key_follows_optlib_own_code(tmp_path, monkeypatch):
    """A choice made by other optlib code is not reused: the key holds a digest of optlib's
    source, which any edited, added or renamed file changes."""
    package = tmp_path / "optlib"
    (package / "passes").mkdir(parents=True)
    (package / "__init__.py").write_text("x = 1\n")
    (package / "passes" / "graph.py").write_text("def build(): pass\n")
    first = tune_cache.library_digest(package)
    (package / "passes" / "graph.py").write_text("def build(): return 2\n")
    edited = tune_cache.library_digest(package)
    (package / "passes" / "graph.py").rename(package / "passes" / "other.py")
    renamed = tune_cache.library_digest(package)
    assert len({first, edited, renamed}) == 3

    x = torch.randn(2, 8)
    base = tune_cache.tune_key("s", _mlp(), (x,), None, ("eager",))
    monkeypatch.setattr(tune_cache, "optlib_digest", lambda: "another optlib")
    assert tune_cache.tune_key("s", _mlp(), (x,), None, ("eager",)) != base


def test_optimize_reuses_its_choice_and_says_so(cache):
    # One thread: no thread-count variants, so a busy machine cannot keep the choice from
    # being remembered (a rule tested above).
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _reuses_its_choice(cache)
    finally:
        torch.set_num_threads(previous)


def _reuses_its_choice(cache):
    x = torch.randn(4, 8)
    model = _mlp()
    first = optlib.optimize(model, sample_input=x, tune_seconds=0.05)
    assert first.tune_report is not None and not first.tune_report.cached
    assert len(list(cache.glob("*.json"))) == 1
    second = optlib.optimize(model, sample_input=x, tune_seconds=0.05)
    assert second.tune_report.cached and second.tune_report.chosen == first.tune_report.chosen
    with torch.no_grad():
        torch.testing.assert_close(second(x), model(x), rtol=1e-4, atol=1e-5)
    fresh = optlib.optimize(model, sample_input=x, config=optlib.OptimizeConfig(tune_seconds=0.05, tune_cache=False))
    assert not fresh.tune_report.cached


def test_the_key_does_not_follow_which_linears_the_timing_packed(cache, monkeypatch):
    """weights_prepack packs a Linear only where that timed faster, so which layers end up
    packed can flip between two runs on one machine; the race must still be reused."""
    from optlib.passes import prepack_linear

    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        x = torch.randn(4, 8)
        model = _mlp()
        monkeypatch.setattr(prepack_linear, "_packed_is_faster", lambda *args: False)
        first = optlib.optimize(model, sample_input=x, tune_seconds=0.05)
        monkeypatch.setattr(prepack_linear, "_packed_is_faster", lambda *args: True)
        second = optlib.optimize(model, sample_input=x, tune_seconds=0.05)
    finally:
        torch.set_num_threads(previous)
    assert not first.tune_report.cached
    assert second.tune_report.cached and second.tune_report.chosen == first.tune_report.chosen
    assert len(list(cache.glob("*.json"))) == 1


def test_tune_cache_must_be_a_bool():
    with pytest.raises(ValueError, match="tune_cache must be True or False"):
        optlib.OptimizeConfig(tune_cache="yes")


def test_a_contended_race_is_timed_again_on_the_same_builds(cache, monkeypatch):
    # The first race looks busy (two threads 6x slower than one), the second does not: the
    # second one's choice is used and remembered, and no candidate is built twice.
    monkeypatch.setattr(autotune, "_CONTENDED_PAUSES_S", (0.0, 0.0))
    x = torch.ones(4)
    races, builds = {"n": 0}, []

    def make(name):
        def run(t):
            busy = races["n"] <= 1
            time.sleep({"eager": 0.03 if busy else 0.002, "eager@1t": 0.005}[name])
            return t * 2

        def build():
            builds.append(name)
            return run
        return build

    def broken():
        builds.append("broken")
        raise RuntimeError("cannot convert")

    original = autotune.select_fastest

    def counting(*args, **kwargs):
        races["n"] += 1
        return original(*args, **kwargs)

    monkeypatch.setattr(autotune, "select_fastest", counting)
    builders = {"eager": make("eager"), "eager@1t": make("eager@1t"), "broken": broken}
    chosen, _, report = select_fastest_cached("k4", builders, (x,), x * 2, 1e-4, 0.05)
    assert races["n"] == 2 and chosen == "eager" and not contended(report)
    assert sorted(builds) == ["broken", "eager", "eager@1t"]
    assert json.loads((cache / "k4.json").read_text())["chosen"] == "eager"


def test_a_race_that_stays_contended_gives_up_after_the_last_pause(cache, monkeypatch):
    monkeypatch.setattr(autotune, "_CONTENDED_PAUSES_S", (0.0, 0.0))
    x = torch.ones(4)
    busy = _threaded({"eager": 0.03, "eager@1t": 0.005})
    original, races = autotune.select_fastest, []
    monkeypatch.setattr(autotune, "select_fastest", lambda *a, **k: races.append(1) or original(*a, **k))
    chosen, _, report = select_fastest_cached("k5", busy, (x,), x * 2, 1e-4, 0.02)
    assert len(races) == 3 and chosen == "eager@1t" and contended(report)
    assert not (cache / "k5.json").exists()
