"""Stochastic size scaling: a pre-training step at another width or depth composes what init will."""

import json

import pytest
import torch

from sizeless.api import pretrain
from sizeless.bank import TemplateBank
from sizeless.bench import BenchConfig, run_init_bench
from sizeless.data import DataConfig, load_data
from sizeless.errors import SizelessError
from sizeless.families import ImageSpec, get_family
from sizeless.flops import macs_per_image
from sizeless.objectives import Supervised
from sizeless.sampling import InplaceDistillation, PairedForward, SizeSampling, size_draws
from sizeless.training import TrainConfig


def test_draws_cover_widths_and_depths_and_sandwich_takes_the_extremes():
    both = SizeSampling.parse("32:96:32", "sandwich", "2,4,6")
    drawn = [both.draw(step, torch.Generator().manual_seed(step)) for step in range(6)]
    assert drawn[0] == drawn[3] == (96, 6) and drawn[1] == drawn[4] == (32, 2)
    uniform = SizeSampling.parse("32:96:32", depths="2,4,6")
    drawn = [uniform.draw(step, torch.Generator().manual_seed(step)) for step in range(40)]
    assert {d for _, d in drawn} == {2, 4, 6} and {w for w, _ in drawn} == {32, 64, 96}
    assert SizeSampling.parse(None, depths="3:5:1").draw(0, torch.Generator())[0] is None
    assert both.validation_sizes() == [(None, None), (32, None), (64, None), (96, None), (None, 2), (None, 4),
                                       (None, 6)]
    with pytest.raises(SizelessError, match="bad depth sampling"):
        SizeSampling.parse(None, depths="6:2:1")
    with pytest.raises(SizelessError, match="at least one width or depth"):
        SizeSampling(())


@pytest.fixture(scope="module")
def sampled_bank(tmp_path_factory):
    data = load_data(DataConfig("digits", train_subset=256, val_subset=64))
    out = tmp_path_factory.mktemp("sampled")
    bank = pretrain(data, ["64x2"], constraint_config={"template_width": 16, "num_templates": 2},
                    size_sampling=SizeSampling((32, 64, 96), depths=(1, 2, 3)),
                    config=TrainConfig(epochs=1, batch_size=64, lr=2e-3), out=out)
    return bank, data, out


def test_kronecker_bank_trains_every_sampled_size_and_reports_them(sampled_bank):
    bank, _, _ = sampled_bank
    assert set(bank.config["val_acc"]) == {"64x2h2", "64x2h2@32", "64x2h2@96", "64x2h2@d1", "64x2h2@d3"}
    assert bank.config["size_sampling"] == {"widths": [32, 64, 96], "distribution": "uniform", "depths": [1, 2, 3]}


@pytest.mark.parametrize("size", ["32x3h1", "96x1h3", "32x1h1"])
def test_a_sampled_size_is_exactly_what_init_composes(sampled_bank, size):
    _, _, out = sampled_bank
    loaded = TemplateBank.load(out)
    reference = loaded.build_net("64x2", 10, seed=0)
    target = loaded.build_net(size, 10, seed=0)
    own = target.sizes[next(iter(target.sizes))]
    _, sampled = reference.weights(None, own.width, own.depth)
    composed = target.composed()
    assert composed and set(composed) <= set(sampled)
    for name, weight in composed.items():
        torch.testing.assert_close(sampled[name], weight, rtol=1e-5, atol=1e-6)


def test_a_sub_size_step_trains_the_reference_scalers(sampled_bank):
    _, _, out = sampled_bank
    net = TemplateBank.load(out).build_net("64x2", 10, seed=0)
    net.templates.requires_grad_(True)
    net(torch.randn(2, 1, 8, 8), None, 32, 3).sum().backward()
    grads = [p.grad for p in net.scalers.parameters()]
    assert all(g is not None and g.abs().sum() > 0 for g in grads)


def test_pretraining_records_the_flops_each_drawn_size_cost(sampled_bank):
    bank, _, _ = sampled_bank
    family, image = bank.family, bank.image
    draw = size_draws(["64x2h2"], SizeSampling((32, 64, 96), depths=(1, 2, 3)), 0)
    by_hand = 0
    for step in range(bank.config["steps"]):  # 256 images / batch 64
        _, width, depth = draw(step)
        size = family.parse_size(f"{width}x{depth}")
        by_hand += 6 * 64 * macs_per_image(lambda size=size: family.build(size, image, 10), 1, 8)
    assert bank.config["train_flops"] == by_hand > 0


def test_bench_gives_a_sampled_bank_the_flops_of_its_epochs_at_the_bank_size(tmp_path):
    cfg = BenchConfig(data="digits", out=tmp_path / "bench", sizes=["32x2h2"],
                      methods=["templates", "weight-selection"],
                      fit_steps=1, epochs=2, batch_size=50, train_subset=150, pretrain_subset=200, bank_size="32x2h2",
                      template_width=16, num_templates=2, pretrain_epochs=2, bank_widths=[16, 32],
                      bank_depths=[1, 3])
    run_init_bench(cfg)
    meta = json.loads((tmp_path / "bench" / "results.json").read_text())["meta"]
    family = get_family("vit")
    plain = macs_per_image(lambda: family.build(family.parse_size("32x2h2"), ImageSpec(8, 1, 2), 10), 1, 8)
    goal = 6 * 50 * plain * 2 * 4  # 2 epochs of 4 steps at the bank's own size
    bank, teacher = meta["inputs"]["templates"], meta["inputs"]["weight-selection"]
    assert goal <= bank["flops"] < goal + 6 * 50 * 3 * plain  # the step that crossed the goal is the last
    assert abs(teacher["flops"] - goal) < 0.01 * goal  # the teacher (the bank's size) gets the same FLOPs
    report = (tmp_path / "bench" / "report.md").read_text()
    assert "the FLOPs of 2 epochs at its own size (a size per step drawn from widths 16, 32 and depths 1, 3" in report


def test_inplace_distillation_teaches_the_drawn_size_and_leaves_labels_to_the_own_size():
    torch.manual_seed(0)
    own, drawn = torch.nn.Linear(5, 3), torch.nn.Linear(5, 3)
    x, y = torch.randn(8, 5), torch.randint(3, (8,))
    loss, stats = InplaceDistillation(Supervised())(PairedForward(own, drawn), x, y)
    loss.backward()
    reference = torch.nn.Linear(5, 3)
    reference.load_state_dict(own.state_dict())
    torch.nn.functional.cross_entropy(reference(x), y).backward()
    torch.testing.assert_close(own.weight.grad, reference.weight.grad)  # the KL term never reaches the own size
    kl = torch.nn.functional.kl_div(drawn(x).log_softmax(-1), own(x).log_softmax(-1), log_target=True,
                                    reduction="batchmean")
    torch.testing.assert_close(loss, torch.nn.functional.cross_entropy(own(x), y) + kl)
    assert drawn.weight.grad.abs().sum() > 0 and stats["correct"] == (own(x).argmax(-1) == y).sum().item()


def test_a_paired_bank_trains_both_sizes_and_counts_both_in_its_flops(tmp_path):
    data = load_data(DataConfig("digits", train_subset=128, val_subset=32))
    sampling = SizeSampling((16,), "paired")
    bank = pretrain(data, ["32x2h2"], constraint_config={"template_width": 16, "num_templates": 2},
                    size_sampling=sampling, config=TrainConfig(epochs=1, batch_size=64, lr=2e-3), out=tmp_path)
    assert set(bank.config["val_acc"]) == {"32x2h2", "32x2h2@16"}
    family, image = bank.family, bank.image
    per_image = sum(macs_per_image(lambda s=s: family.build(family.parse_size(s), image, 10), 1, 8)
                    for s in ("32x2h2", "16x2h1"))
    assert bank.config["train_flops"] == 2 * 6 * 64 * per_image  # 2 steps, each at both sizes
    with pytest.raises(SizelessError, match="paired size sampling"):
        pretrain(data, ["32x2h2"], objective="mae", size_sampling=sampling, config=TrainConfig(steps=1))


def test_the_paired_weight_scales_the_drawn_loss_and_is_recorded_only_when_paired():
    torch.manual_seed(0)
    own, drawn = torch.nn.Linear(5, 3), torch.nn.Linear(5, 3)
    x, y = torch.randn(8, 5), torch.randint(3, (8,))
    full, _ = InplaceDistillation(Supervised())(PairedForward(own, drawn), x, y)
    quarter, _ = InplaceDistillation(Supervised(), 0.25)(PairedForward(own, drawn), x, y)
    ce = torch.nn.functional.cross_entropy(own(x), y)
    torch.testing.assert_close(quarter - ce, 0.25 * (full - ce))
    assert SizeSampling.parse("32", "paired", paired_weight=0.5).to_dict()["paired_weight"] == 0.5
    assert "paired_weight" not in SizeSampling.parse("32").to_dict()
    with pytest.raises(SizelessError, match="weight must be >= 0"):
        SizeSampling((32,), "paired", paired_weight=-1.0)
