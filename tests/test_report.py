"""The bench report reads the right points of each curve."""

import pytest

from sizeless.bench.report import Results


def _rows(method: str, epochs: list[float], values: list[float]) -> list[dict]:
    return [{"method": method, "size": "32x2h1", "seed": 0, "status": "ok", "selected": True, "params": 1,
             "epoch": e, "val_acc": v, "test_acc": v} for e, v in zip(epochs, values, strict=True)]


def test_after_init_is_the_first_point_even_at_epoch_zero():
    """A method without a fit stage starts at epoch 0.0; its 'after init' cell is that point, not epoch 1's."""
    rows = _rows("scratch", [0.0, 1.0, 2.0], [0.10, 0.40, 0.50]) + _rows("templates", [0.25, 1.0, 2.0],
                                                                         [0.30, 0.45, 0.55])
    res = Results(rows, {"config": {"metric": "acc"}})
    assert res.at("32x2h1", "scratch", "init") == 0.10
    assert res.at("32x2h1", "scratch", "one") == 0.40
    assert res.at("32x2h1", "scratch", "final") == 0.50
    assert res.at("32x2h1", "templates", "init") == 0.30  # after its fit, a quarter epoch in
    assert res.at("32x2h1", "templates", "one") == 0.45


def test_shared_cpu_is_judged_by_the_threads_each_run_used():
    """A one-thread run with its core to itself is not 'shared' in a report written with two threads; a
    two-thread run that got one core's worth of CPU time is; a run without a record falls back to the default
    (the machine's cores, whatever threads rendered the report)."""
    from sizeless.bench.report import wall_time

    assert wall_time(100.0, 99.0, 1, default_threads=2) == "100"
    assert wall_time(100.0, 99.0, 2, default_threads=1) == "100 (shared CPU)"
    assert wall_time(100.0, 99.0, None, default_threads=2) == "100 (shared CPU)"
    assert wall_time(100.0, 190.0, 2, default_threads=2) == "100"
    assert wall_time(None, None, 2, default_threads=2) == "unknown"


def test_several_pretraining_seeds_are_replicates_whose_means_make_the_spread():
    """With two pre-training seeds, a pre-trained method's values are the two replicates' means over target seeds
    (the pre-training seed is the noise that matters); scratch, pre-trained by nobody, keeps its target seeds; a
    cell that misses a replicate says so."""
    from sizeless.bench.report import _partial

    def run(method, pretrain_seed, seed, value):
        return [{**r, "pretrain_seed": pretrain_seed, "seed": seed} for r in _rows(method, [3.0], [value])]

    rows = (run("templates", 0, 0, 0.60) + run("templates", 0, 1, 0.62) + run("templates", 1, 0, 0.50)
            + run("templates", 1, 1, 0.52) + run("scratch", 0, 0, 0.30) + run("scratch", 0, 1, 0.34)
            + run("direct", 0, 0, 0.55))
    res = Results(rows, {"config": {"metric": "acc"}})
    assert res.pretrain_seeds == 2
    assert res.final("32x2h1", "templates") == pytest.approx([0.61, 0.51])
    assert res.final("32x2h1", "scratch") == [0.30, 0.34]
    assert _partial(res, "32x2h1", "templates") == _partial(res, "32x2h1", "scratch") == ""
    assert _partial(res, "32x2h1", "direct") == " (1 of 2 pre-training seeds)"
    assert res.final("32x2h1", "direct") == [0.55]  # one replicate: no spread of target seeds passed off as its


def test_a_gap_to_a_one_seed_replicate_is_judged_by_its_target_seeds():
    """A method pre-trained once in a bench of two pre-training seeds shows one value, but its target seeds still
    bound the noise: a gap inside their spread is marked, where no estimate at all would pass it off as real."""
    from sizeless.bench.report import _gain

    def run(method, pretrain_seed, seed, value):
        return [{**r, "pretrain_seed": pretrain_seed, "seed": seed} for r in _rows(method, [3.0], [value])]

    rows = (run("templates", 0, 0, 0.60) + run("templates", 1, 0, 0.59) + run("direct", 0, 0, 0.55)
            + run("direct", 0, 1, 0.63))
    res = Results(rows, {"config": {"metric": "acc"}})
    assert res.final("32x2h1", "direct") == pytest.approx([0.59])
    assert res.noise_values("32x2h1", "direct") == [0.55, 0.63]
    assert res.noise_values("32x2h1", "templates") == res.final("32x2h1", "templates")
    assert _gain(res, "32x2h1") == "+0.50 vs direct *(noise)*"
    wide = Results(rows[:2] + run("direct", 0, 0, 0.40) + run("direct", 0, 1, 0.41), {"config": {"metric": "acc"}})
    assert _gain(wide, "32x2h1") == "+19.00 vs direct"


def test_a_compared_benchs_methods_count_their_own_benchs_seeds():
    """Beside a bench of two pre-training seeds, a compared bench of three marks only its own missing replicates,
    and this bench's cells are not marked for seeds only the other bench ran."""
    from sizeless.bench.report import _partial

    def run(method, pretrain_seed, value, bench=None):
        return [{**r, "pretrain_seed": pretrain_seed, **({"bench": bench} if bench else {})}
                for r in _rows(method, [3.0], [value])]

    rows = (run("templates", 0, 0.60) + run("templates", 1, 0.58) + run("direct", 0, 0.50, "b")
            + run("direct", 1, 0.52, "b") + run("direct", 2, 0.54, "b") + run("weight-selection", 0, 0.40, "b"))
    res = Results(rows, {"config": {"metric": "acc"}})
    assert res.pretrain_seeds == 2 and res.bench_seeds("direct") == 3
    assert _partial(res, "32x2h1", "templates") == _partial(res, "32x2h1", "direct") == ""
    assert _partial(res, "32x2h1", "weight-selection") == " (1 of 3 pre-training seeds)"
    assert res.final("32x2h1", "direct") == pytest.approx([0.50, 0.52, 0.54])


def test_a_report_names_the_command_that_ran(monkeypatch):
    """The `sizeless` entry point is named as such; a benchmark script calling the library is named by its path
    (its flags are not a `sizeless` command's)."""
    import sys

    from sizeless.bench.report import provenance

    monkeypatch.setattr(sys, "argv", ["/venv/bin/sizeless", "bench", "init", "--out", "a b"])
    assert provenance()["command"] == "sizeless bench init --out 'a b'"
    monkeypatch.setattr(sys, "argv", ["benchmarks/dit_depth_rule.py", "--rule", "nearest"])
    assert provenance()["command"] == "python benchmarks/dit_depth_rule.py --rule nearest"
