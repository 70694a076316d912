"""WAVE path: distillation from an ancestry model, teachers in every form, transfer to new tasks."""

import argparse
import math

import pytest
import timm
import torch
from safetensors.torch import save_file

from sizeless.api import initialize_full, pretrain, train
from sizeless.bank import TemplateBank
from sizeless.data import DataConfig, load_data
from sizeless.errors import SizelessError
from sizeless.families import ImageSpec, get_family
from sizeless.initializers.base import default_fit_config
from sizeless.models import save_model
from sizeless.objectives import DistillConfig, distillation_loss
from sizeless.teachers import load_teacher
from sizeless.training import TrainConfig


def test_distillation_loss_by_hand():
    student, teacher, label, tau = [1.0, 2.0, 3.0], [3.0, 2.0, 1.0], 0, 2.0

    def softmax(z):
        e = [math.exp(v / tau) for v in z]
        return [v / sum(e) for v in e]

    p_t, p_s = softmax(teacher), softmax(student)
    kl = sum(t * math.log(t / s) for t, s in zip(p_t, p_s, strict=True)) * tau**2
    ce = -math.log(math.exp(student[label]) / sum(math.exp(v) for v in student))
    loss, kd, ce_t = distillation_loss(torch.tensor([student]), torch.tensor([teacher]), torch.tensor([label]),
                                       tau, kd_weight=0.3, ce_weight=0.7)
    assert kd.item() == pytest.approx(kl, rel=1e-5) and ce_t.item() == pytest.approx(ce, rel=1e-5)
    assert loss.item() == pytest.approx(0.3 * kl + 0.7 * ce, rel=1e-5)


@pytest.fixture(scope="module")
def tiny_timm(tmp_path_factory):
    """timm's registered test_vit with a 10-class head, saved in every file form."""
    root = tmp_path_factory.mktemp("teachers")
    torch.manual_seed(0)
    model = timm.create_model("test_vit", pretrained=False, num_classes=10).eval()
    state = model.state_dict()
    save_file({k: v.contiguous() for k, v in state.items()}, str(root / "teacher.safetensors"))
    torch.save(state, root / "teacher.pth")
    torch.save({"state_dict": state, "args": argparse.Namespace(lr=0.1)}, root / "pickled.pth")
    return model, root


def test_teacher_from_every_spec_form(tiny_timm, tmp_path):
    model, root = tiny_timm
    x = torch.randn(2, 3, 160, 160)
    expected = model(x)
    for spec in ("teacher.safetensors", "teacher.pth"):
        loaded = load_teacher(str(root / spec), arch="test_vit")
        torch.testing.assert_close(loaded(x), expected)
    fam, image = get_family("vit"), ImageSpec(8, 1, 2)
    small = fam.build(fam.parse_size("32x2"), image, 10)
    save_model(small, tmp_path / "folder", *fam.model_args(fam.parse_size("32x2"), image, 10))
    y = torch.randn(2, 1, 8, 8)
    for spec in (str(tmp_path / "folder"), f"local-dir:{tmp_path / 'folder'}"):
        torch.testing.assert_close(load_teacher(spec)(y), small.eval()(y))
    with pytest.raises(SizelessError, match="--teacher-arch"):
        load_teacher(str(root / "teacher.safetensors"))
    with pytest.raises(SizelessError, match="neither a file, a folder, nor a timm model"):
        load_teacher("no_such_model_anywhere")


def test_pickled_checkpoint_is_refused_unless_allowed(tiny_timm):
    model, root = tiny_timm
    with pytest.raises(SizelessError, match="--allow-unsafe-pickle"):
        load_teacher(str(root / "pickled.pth"), arch="test_vit")
    loaded = load_teacher(str(root / "pickled.pth"), arch="test_vit", allow_pickle=True)
    x = torch.randn(1, 3, 160, 160)
    torch.testing.assert_close(loaded(x), model(x))


def test_distilled_bank_with_cached_logits_matches_uncached(tiny_timm, tmp_path):
    """A colour 160px timm teacher teaches an 8px grayscale student; caching changes no weight."""
    _, root = tiny_timm
    data = load_data(DataConfig("digits", train_subset=128, val_subset=64))
    kw = dict(objective="distill", constraint_config={"template_width": 16, "num_templates": 2, "vectors": "free"},
              config=TrainConfig(epochs=2, batch_size=64))
    teacher = str(root / "teacher.safetensors")
    banks = [pretrain(data, ["32x2", "48x3"], distill=DistillConfig(teacher, "test_vit", cache_logits=cache), **kw)
             for cache in (False, True)]  # multi-size, free vectors
    for key, value in banks[0].tensors.items():
        torch.testing.assert_close(value, banks[1].tensors[key], rtol=1e-4, atol=1e-5)
    assert banks[0].config["objective"] == "distill" and banks[0].config["distill"]["teacher_arch"] == "test_vit"
    cifar_like = load_data(DataConfig("digits", train_subset=64))
    cifar_like.augment = True
    with pytest.raises(SizelessError, match="--no-augment"):
        pretrain(cifar_like, ["32x2"], distill=DistillConfig(teacher, "test_vit", cache_logits=True), **kw)


def test_transfer_to_a_new_resolution_resamples_position_embeddings(bank_dir):
    bank = TemplateBank.load(bank_dir)
    fam = bank.family
    low = bank.build_net("48x3", 10)
    high = bank.build_net("48x3", 10, image=ImageSpec(16, 1, 2))
    pos_low, pos_high = low.composed()["pos_embed"], high.composed()["pos_embed"]
    assert pos_low.shape == (1, 17, 48) and pos_high.shape == (1, 65, 48)
    expected = fam.adapt_to_image("pos_embed", pos_low, bank.image, ImageSpec(16, 1, 2))
    torch.testing.assert_close(pos_high, expected, rtol=1e-4, atol=1e-5)
    # another patch size: patch embeddings resampled (timm's resample_patch_embed), position grid follows
    coarse = bank.build_net("48x3", 10, image=ImageSpec(16, 1, 4)).composed()
    assert coarse["patch_embed.proj.weight"].shape == (48, 1, 4, 4) and coarse["pos_embed"].shape == (1, 17, 48)
    with pytest.raises(SizelessError, match="1-channel inputs"):
        bank.build_net("48x3", 10, image=ImageSpec(16, 3, 2))


def test_end_to_end_transfer_to_other_classes_and_resolution(tmp_path):
    source = load_data(DataConfig("digits", classes=[0, 1, 2, 3, 4]))
    target = load_data(DataConfig("digits", classes=[5, 6, 7, 8, 9], image_size=12))
    pretrain(source, ["32x2"], constraint_config={"template_width": 16, "num_templates": 2, "vectors": "free"},
             config=TrainConfig(epochs=15, batch_size=64, lr=3e-3), out=tmp_path / "bank")
    fit = default_fit_config()
    fit.steps, fit.batch_size = 60, 64
    init = initialize_full("48x3", target, bank=tmp_path / "bank", fit=fit, out=tmp_path / "model")
    assert init.model.num_classes == 5 and init.model.pos_embed.shape == (1, 37, 48)
    _, result = train(tmp_path / "model", target, TrainConfig(epochs=2, batch_size=64), out=tmp_path / "run")
    assert result.history[-1]["val_acc"] > 0.3  # five classes: chance is 0.2
