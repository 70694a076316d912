"""Hand-over: model cards in every folder, `sizeless info`, the load error, the demo's figure, fit logs in steps."""

import json

import pytest
import timm
import torch
from huggingface_hub import ModelCard
from PIL import Image

from sizeless.api import initialize_full, train
from sizeless.demo import plot_demo
from sizeless.errors import SizelessError
from sizeless.families import needs_sizeless
from sizeless.models import load_model
from sizeless.training import TrainConfig


@pytest.fixture(scope="module")
def made(tmp_path_factory, bank_dir, digits):
    """A template-initialized model and the same model trained for one epoch."""
    root = tmp_path_factory.mktemp("made")
    init = initialize_full("48x2", digits, bank=bank_dir, fit=TrainConfig(steps=3, batch_size=32, lr=3e-3),
                           out=root / "init")
    _, result = train(root / "init", digits, TrainConfig(epochs=1, batch_size=128, lr=2.5e-4), out=root / "train")
    return root, init, result


def test_init_writes_a_hub_model_card(made, bank_dir):
    root, init, _ = made
    card = ModelCard.load(root / "init" / "README.md")
    data = card.data.to_dict()
    assert data["library_name"] == "timm" and data["pipeline_tag"] == "image-classification"
    assert {"sizeless", "timm", "vit", "templates", "kronecker"} <= set(data["tags"])
    assert data["datasets"] == ["digits"] and data["metrics"] == ["accuracy"]
    result = data["model-index"][0]["results"][0]
    assert result["metrics"][0]["value"] == round(init.meta["fit_val_acc"], 4)
    for fact in (f"bank {bank_dir}", "3 fit steps", "seeded from 32x2h1", "after init", "0.00025", "2% warm-up"):
        assert fact in card.text, fact


def test_the_cards_two_lines_load_the_model(made):
    root, init, _ = made
    text = (root / "init" / "README.md").read_text()
    code = text.split("```python\n")[1].split("```")[0]
    assert len(code.strip().splitlines()) == 2 and "import sizeless" not in code
    scope = {}
    exec(code, scope)
    x = torch.randn(2, 1, 8, 8)
    init.model.eval()
    torch.testing.assert_close(scope["model"].eval()(x), init.model(x))


def test_train_card_has_accuracy_after_init_and_training(made):
    root, init, result = made
    card = ModelCard.load(root / "train" / "README.md")
    final = result.history[-1]["val_acc"]
    assert card.data.to_dict()["model-index"][0]["results"][0]["metrics"][0]["value"] == round(final, 4)
    assert f"after init {100 * init.meta['fit_val_acc']:.2f}%, after training {100 * final:.2f}%" in card.text
    assert "1 epoch of batch 128 at peak LR 0.00025" in card.text and str(root / "init") in card.text


def test_a_model_that_needs_sizeless_says_so(tmp_path, digits):
    initialize_full("8x1-1-1-1", digits, method="scratch", family="resnet", out=tmp_path / "resnet")
    config = json.loads((tmp_path / "resnet" / "config.json").read_text())
    assert config["architecture"] == "sizeless_resnet" and needs_sizeless("sizeless_resnet")
    text = (tmp_path / "resnet" / "README.md").read_text()
    assert "import sizeless, timm" in text and "Unknown model (sizeless_resnet)" in text
    assert "random init" in text


def test_loading_an_unknown_architecture_is_one_clear_error(made, tmp_path):
    root, _, _ = made
    folder = tmp_path / "foreign"
    folder.mkdir()
    for name in ("model.safetensors", "README.md"):
        (folder / name).write_bytes((root / "init" / name).read_bytes())
    config = json.loads((root / "init" / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "architecture": "sizeless_dit_from_the_future"}))
    with pytest.raises(SizelessError, match=r"needs timm architecture 'sizeless_dit_from_the_future'.*README\.md"):
        load_model(folder)
    assert not timm.is_model("sizeless_dit_from_the_future")


def test_info_describes_banks_and_models(made, bank_dir, run_cli):
    root, _, _ = made
    code, out, err = run_cli("info", str(bank_dir))
    assert code == 0, err
    for fact in ("family: ViT", "Kronecker, template width 16, 2 templates per kind", "pre-trained at: 32x2h1",
                 "multiples of the template width 16", "widths here: 16, 32, 48", "objective: supervised",
                 "data: digits, 10 classes; input: img_size 8, in_chans 1, patch_size 2", "template parameters"):
        assert fact in out, fact
    code, out, err = run_cli("info", str(root / "train"))
    assert code == 0, err
    for fact in ("48x2h1 (ViT, width 48, depth 2, 1 head of 48", "made by: templates from bank", "after training",
                 "recommended: fine-tune at peak LR 0.00025", "timm.create_model"):
        assert fact in out, fact
    code, _, err = run_cli("info", str(root))
    assert code == 2 and "neither a template bank" in err


def test_fit_logs_count_steps(made, capsys, digits, bank_dir):
    initialize_full("32x2", digits, bank=bank_dir, fit=TrainConfig(steps=2, batch_size=16))
    logged = "".join(capsys.readouterr())
    assert "fit templates 32x2h1 step 2:" in logged and "epoch 0." not in logged


def test_demo_figure_has_a_panel_per_size(tmp_path):
    rows = [{"size": size, "params": 1000, "curves": {"templates": [0.5, 0.6, 0.7], "scratch": [0.1, 0.3, 0.5]}}
            for size in ("64x8h2", "128x4h4", "96x6h3")]
    path = plot_demo(rows, tmp_path / "curves.png")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.width > 2.5 * image.height
