"""Masked autoencoding: masking, the loss, and the self-supervised paths end to end."""

import json

import pytest
import torch

from sizeless.errors import SizelessError
from sizeless.families import ImageSpec, get_family
from sizeless.mae import MAEConfig, MaskedAutoencoder, masked_mse, patchify, random_masking, unpatchify


@pytest.mark.parametrize("ratio", [0.75, 0.5, 0.3])
def test_masking_keeps_exactly_the_requested_ratio(ratio):
    keep, mask = random_masking(5, 16, ratio, torch.Generator().manual_seed(0))
    assert keep.shape == (5, 16 - round(16 * ratio))
    assert torch.equal(mask.sum(1), torch.full((5,), float(round(16 * ratio))))
    assert (mask.gather(1, keep) == 0).all()
    assert all(len(row.unique()) == len(row) for row in keep)
    with pytest.raises(SizelessError, match="no masked or no visible"):
        random_masking(2, 4, 0.95, torch.Generator())


def test_loss_ignores_visible_patches():
    pred, target = torch.randn(2, 16, 12), torch.randn(2, 16, 12)
    _, mask = random_masking(2, 16, 0.75, torch.Generator().manual_seed(1))
    changed_visible = pred + (1 - mask).unsqueeze(-1) * 100
    torch.testing.assert_close(masked_mse(changed_visible, target, mask), masked_mse(pred, target, mask))
    changed_masked = pred + mask.unsqueeze(-1)
    assert (masked_mse(changed_masked, target, mask) != masked_mse(pred, target, mask)).all()


def test_patchify_round_trip_and_encoder_sees_only_visible_tokens():
    images = torch.randn(2, 3, 8, 8)
    assert torch.equal(unpatchify(patchify(images, 2), 2, 3), images)
    vit = get_family("vit")
    image = ImageSpec(8, 3, 2)
    model = vit.build(vit.parse_size("32x1"), image, 10)
    keep, _ = random_masking(2, 16, 0.75, torch.Generator().manual_seed(0))
    tokens = vit.encode_visible(model, images, keep)
    assert tokens.shape == (2, 1 + 4, 32)
    mae = MaskedAutoencoder(64, image, MAEConfig(decoder_width=16, decoder_depth=1, decoder_heads=2))
    pred, target, mask = mae.reconstruct(lambda x, k: vit.encode_visible(model, x, k), images,
                                         torch.Generator().manual_seed(0))
    assert pred.shape == target.shape == (2, 16, 12) and mask.sum() == 24
    with pytest.raises(SizelessError, match="mask ratio"):
        MAEConfig(mask_ratio=1.0)


def test_mae_bank_then_supervised_fit_and_plain_mae(tmp_path, run_cli):
    bank = tmp_path / "bank"
    code, _, err = run_cli("pretrain", "--data", "digits", "--out", str(bank), "--size", "64x2", "--constraint",
                        "tucker", "--ranks", "12,16,16", "--objective", "mae", "--mask-ratio", "0.5",
                        "--decoder-width", "32", "--decoder-depth", "1", "--epochs", "1", "--batch-size", "64")
    assert code == 0, err
    config = json.loads((bank / "config.json").read_text())
    assert config["objective"] == "mae" and config["mae"]["mask_ratio"] == 0.5
    assert config["val_loss"]["64x2h2"] > 0 and (bank / "reconstructions.png").stat().st_size > 0
    header = (bank / "metrics.csv").read_text().splitlines()[0]
    assert "val_loss[64x2h2]" in header and "acc" not in header
    code, _, err = run_cli("init", "--data", "digits", "--bank", str(bank), "--size", "80x2h2", "--out",
                        str(tmp_path / "model"), "--fit-steps", "3")
    assert code == 0, err

    plain = tmp_path / "plain-mae"
    code, _, err = run_cli("train", "--data", "digits", "--size", "32x2", "--objective", "mae", "--epochs", "1",
                        "--batch-size", "64", "--decoder-width", "32", "--decoder-depth", "1", "--out", str(plain))
    assert code == 0, err
    assert (plain / "reconstructions.png").exists()
    code, _, err = run_cli("train", "--data", "digits", "--model", str(plain), "--epochs", "1", "--batch-size",
                        "64", "--out", str(tmp_path / "finetuned"))
    assert code == 0, err
    code, _, err = run_cli("train", "--data", "digits", "--size", "32x2", "--objective", "contrastive",
                        "--out", str(tmp_path / "bad"))
    assert code == 2 and "unknown objective 'contrastive'" in err and "supervised, distill or mae" in err
