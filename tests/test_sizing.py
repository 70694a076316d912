"""Sizes for a budget: exact counts, the sizes a bank serves, the size `init` picks for each budget flag."""

import json
import re

import pytest
import torch
from torch import nn

from sizeless.bank import TemplateBank
from sizeless.budget import count_params, latency_ms
from sizeless.constraints import build_constraint
from sizeless.errors import SizelessError
from sizeless.families import ImageSpec, get_family
from sizeless.flops import macs_per_image, model_macs
from sizeless.models import load_model
from sizeless.sizing import Budget, SizeCost, choose, parse_grid, size_table
from sizeless.templated import TemplateNet

BANKS = {  # family, size, constraint, constraint config, input: one bank per family and constraint
    "vit": ("vit", "32x2", "kronecker", {"template_width": 16, "num_templates": 2}, ImageSpec(8, 1, 2)),
    "tucker": ("vit", "32x2", "tucker", {"ranks": [4, 8, 8]}, ImageSpec(8, 1, 2)),
    "resnet": ("resnet", "8x2-2-2-2", "kronecker", {"template_width": 4, "num_templates": 2}, ImageSpec(8, 1, 1)),
    "convnext": ("convnext", "8x2-2-2-2", "kronecker", {"template_width": 4, "num_templates": 2}, ImageSpec(8, 1, 1)),
}


@pytest.fixture(scope="module")
def banks(tmp_path_factory):
    """Untrained banks (what is served and what it costs do not depend on the weights), saved like real ones."""
    out = {}
    for name, (family, size, constraint, config, image) in BANKS.items():
        fam = get_family(family)
        net = TemplateNet(fam, build_constraint(constraint, config), [fam.parse_size(size)], image, 10)
        path = tmp_path_factory.mktemp(f"bank-{name}")
        TemplateBank.from_net(net, {"objective": "supervised", "data": "digits", "train": {}}).save(path)
        out[name] = path
    return out


def macs(model, image: ImageSpec) -> int:
    return macs_per_image(model, image.in_chans, image.img_size)


def test_vit_macs_match_an_analytic_count():
    """Every matrix product of a ViT forward, multiply-accumulates counted by hand (FLOPs / 2)."""
    width, depth, classes, image = 64, 4, 10, ImageSpec(32, 3, 4)
    model = get_family("vit").build(get_family("vit").parse_size(f"{width}x{depth}"), image, classes)
    tokens, hidden = (32 // 4) ** 2 + 1, 4 * width
    per_block = tokens * (3 * width * width + width * width + 2 * width * hidden) + 2 * tokens * tokens * width
    expected = depth * per_block + (tokens - 1) * width * 3 * 4 * 4 + width * classes
    assert macs(model, image) == expected == 15_139_968


@pytest.mark.parametrize("family, size, image", [("vit", "64x2", ImageSpec(32, 3, 4)),
                                                  ("resnet", "8x1-1-1-1", ImageSpec(32, 3, 1)),
                                                  ("convnext", "8x1-1-1-1", ImageSpec(32, 3, 4))])
def test_a_built_model_and_its_builder_count_the_same(family, size, image):
    """The size table counts a builder on the meta device; tests count exported (real) models: the same MACs."""
    fam = get_family(family)
    build = lambda: fam.build(fam.parse_size(size), image, 10)  # noqa: E731
    assert macs(build(), image) == macs(build, image) > 0


def test_macs_of_convolutions_and_the_model_left_untouched():
    model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.Flatten(),
                          nn.Linear(8 * 6 * 6, 5))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert macs_per_image(model, 3, 6) == 8 * 3 * 9 * 36 + 8 * 36 * 5
    assert model.training and all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert count_params(model) == 8 * 27 + 8 + 16 + 8 * 36 * 5 + 5


def test_latency_is_a_median_of_real_forwards_and_restores_threads():
    linear, threads, calls = nn.Linear(16, 16), torch.get_num_threads(), []
    linear.register_forward_hook(lambda module, inputs, output: calls.append(inputs[0].shape))
    ms = latency_ms(nn.Sequential(nn.Flatten(), linear), torch.randn(2, 1, 4, 4), threads=1, warmup=2,
                    repeats=5)
    assert 0 < ms < 1000 and calls == [torch.Size([2, 16])] * 7 and torch.get_num_threads() == threads


@pytest.mark.parametrize("name", list(BANKS))
def test_counts_on_the_grid_are_exact_for_every_family(banks, name):
    """`sizes` counts depths 1, 2 and 4 of each width and predicts depth 3: the prediction is a real count."""
    bank = TemplateBank.load(banks[name])
    table = size_table(bank, widths=[2 * bank.constraint.config.template_width if name != "tucker" else 24],
                       depths=range(1, 5))
    predicted = next(c for c in table.rows if bank.family.grid_point(c.size)[1] == 3)
    model = bank.family.build(predicted.size, bank.image, 10)
    assert (predicted.params, predicted.macs) == (count_params(model), macs(model, bank.image))
    assert len(table.rows) == 4


def test_each_constraint_serves_its_widths(banks):
    kron = size_table(TemplateBank.load(banks["vit"]), widths=[16, 24, 40, 48], depths=[2])
    assert [c.size.width for c in kron.rows] == [48, 16] and set(kron.refused) == {24, 40}
    assert "not a multiple of the template width 16" in kron.refused[40]
    tucker = size_table(TemplateBank.load(banks["tucker"]), depths=[2])
    assert 80 in {c.size.width for c in tucker.rows}  # any width the heads divide (grid step 16 by default)
    assert "80x2h2" in {c.key for c in tucker.rows}
    resnet = size_table(TemplateBank.load(banks["resnet"]), depths=[1])
    assert [c.key for c in sorted(resnet.rows, key=lambda c: c.size.width)][:2] == ["4x1-1-1-1", "8x1-1-1-1"]


def test_budget_prunes_and_sorts_by_budget_use(banks):
    bank = TemplateBank.load(banks["vit"])
    everything = size_table(bank, widths=[16, 32, 48], depths=range(1, 5))
    limit = sorted(c.params for c in everything.rows)[len(everything.rows) // 2]
    table = size_table(bank, Budget(max_params=limit), widths=[16, 32, 48], depths=range(1, 5))
    assert {c.key for c in table.rows} == {c.key for c in everything.rows if c.params <= limit}
    uses = [table.budget.use(c) for c in table.rows]
    assert uses == sorted(uses, reverse=True) and max(uses) <= 1


def test_latency_is_measured_on_request_and_prunes(banks):
    bank = TemplateBank.load(banks["convnext"])
    table = size_table(bank, widths=[4, 8], depths=[1, 2], latency=True)
    assert len(table.rows) == 4 and all(0 < c.latency_ms < 10_000 for c in table.rows)
    fastest = min(c.latency_ms for c in table.rows)
    tight = size_table(bank, Budget(max_latency_ms=fastest / 100), widths=[4, 8], depths=[1, 2])
    assert not tight.rows  # nothing is 100x faster than the fastest (up to clock noise)


def test_choice_follows_the_bank_ratio_and_falls_back(banks):
    bank = TemplateBank.load(banks["vit"])  # pre-trained at 32x2: depth 1 per 16 of width
    table = size_table(bank, Budget(max_params=10**9), widths=[16, 32, 48], depths=range(1, 5))
    assert choose(bank, table, range(1, 5)).cost.key == "48x3h2"
    tight = size_table(bank, Budget(max_params=40_000), widths=[16, 32, 48], depths=range(1, 5))
    pick = choose(bank, tight, range(1, 5))
    assert pick.cost.key == "32x2h1" and "ratio" in pick.reason and pick.cost.params <= 40_000
    shallow = size_table(bank, Budget(max_params=40_000), widths=[48], depths=[1, 2, 3])  # 48x3 is over budget
    fallback = choose(bank, shallow, [1, 2, 3])
    assert fallback.cost.key == "48x1h2" and "no size at the bank's" in fallback.reason
    with pytest.raises(SizelessError, match="no size this bank can serve fits 10 parameters"):
        choose(bank, size_table(bank, Budget(max_params=10)))


@pytest.mark.parametrize("flag, limit", [("--max-params", 60_000), ("--max-macs", 600_000),
                                         ("--max-latency-ms", 3.0)])
def test_init_picks_a_size_within_each_budget_flag(tmp_path, banks, run_cli, monkeypatch, flag, limit):
    """The chosen size respects the budget and its counts are those of the exported model."""
    if flag == "--max-latency-ms":  # a deterministic stand-in for the clock: 1 ms per 100k MACs
        monkeypatch.setattr("sizeless.sizing.latency_ms", lambda model, inputs, *a: model_macs(model, inputs[:1]) / 1e5)
    bank_dir, grid = banks["vit"], ["--widths", "16,32,48", "--depths", "1:5"]
    code, out, err = run_cli("sizes", "--bank", str(bank_dir), flag, str(limit), *grid, "--json")
    assert code == 0, err
    listed = json.loads(out)
    assert listed["sizes"] and all(row["budget_use"] <= 1 for row in listed["sizes"])
    code, _, err = run_cli("init", "--bank", str(bank_dir), flag, str(limit), *grid, "--data", "digits",
                           "--fit-steps", "0", "--out", str(tmp_path / "model"))
    assert code == 0, err
    chosen = re.search(r"size (\S+) \(", err)[1]
    assert chosen == listed["init_would_pick"]
    row = next(r for r in listed["sizes"] if r["size"] == chosen)
    model, config = load_model(tmp_path / "model")
    image = ImageSpec(8, 1, config["model_args"]["patch_size"])
    assert (count_params(model), macs(model, image)) == (row["params"], row["macs"])
    value = {"--max-params": row["params"], "--max-macs": row["macs"], "--max-latency-ms": row["latency_ms"]}[flag]
    assert value <= limit
    width, depth = grid_point(chosen)
    assert depth == width // 16  # the bank's ratio (32x2), and no wider size at that ratio fits
    assert all(w <= width for w, d in map(grid_point, (r["size"] for r in listed["sizes"])) if d == w // 16)


@pytest.mark.parametrize("name, flag", [("resnet", "--max-macs"), ("convnext", "--max-params")])
def test_init_picks_a_cnn_size_within_the_budget(tmp_path, banks, run_cli, name, flag):
    """CNN banks too: the pick is within the budget and its counts are the exported model's."""
    bank = TemplateBank.load(banks[name])
    everything = size_table(bank, widths=[4, 8], depths=[1, 2])
    key = {"--max-macs": "macs", "--max-params": "params"}[flag]
    limit = sorted(getattr(c, key) for c in everything.rows)[len(everything.rows) // 2]
    grid = [flag, str(limit), "--widths", "4,8", "--depths", "1:2"]
    code, out, err = run_cli("sizes", "--bank", str(banks[name]), *grid, "--json")
    assert code == 0, err
    listed = json.loads(out)
    code, out, err = run_cli("sizes", "--bank", str(banks[name]), *grid)  # the table a person reads
    assert code == 0 and "MACs / image" in out and "budget used" in out and "latency" not in out, err
    code, _, err = run_cli("init", "--bank", str(banks[name]), *grid, "--data", "digits", "--fit-steps", "0", "--out",
                           str(tmp_path / "model"))
    assert code == 0, err
    chosen = re.search(r"size (\S+) \(", err)[1]
    row = next(r for r in listed["sizes"] if r["size"] == chosen)
    model, _ = load_model(tmp_path / "model")
    assert (count_params(model), macs(model, bank.image)) == (row["params"], row["macs"])
    assert row[key] <= limit and (tmp_path / "model" / "README.md").is_file()


def grid_point(key: str) -> tuple[int, int]:
    width, depth = re.match(r"(\d+)x(\d+)", key).groups()
    return int(width), int(depth)


def test_init_budget_needs_a_bank_and_excludes_size(tmp_path, banks, run_cli):
    bank_dir = banks["vit"]
    code, _, err = run_cli("init", "--max-params", "1000", "--data", "digits", "--out", str(tmp_path / "m"))
    assert code == 2 and "needs template init from a bank" in err
    code, _, err = run_cli("init", "--bank", str(bank_dir), "--size", "32x2", "--max-params", "1000", "--data",
                           "digits", "--out", str(tmp_path / "m"))
    assert code == 2 and "give --size, or a budget" in err


def test_parse_grid():
    assert parse_grid("2:6:2", "--depths") == (2, 4, 6) and parse_grid("96,64,64", "--widths") == (64, 96)
    for bad in ("0:4", "4:2", "a,b", "1:4:0", "", "-3"):
        with pytest.raises(SizelessError, match="bad --widths"):
            parse_grid(bad, "--widths")


def test_budget_use_and_fits():
    budget = Budget(max_params=100, max_macs=1000)
    cost = SizeCost(None, 50, 900)
    assert budget.fits(cost) and budget.use(cost) == 0.9 and not budget.fits(SizeCost(None, 101, 10))
    assert Budget().use(cost) == 0 and "100 parameters and 1,000 MACs" in budget.describe()
