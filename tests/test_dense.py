"""Dense tasks on synthetic images the tests draw themselves: rectangles and discs with known masks and
boxes. Losses, metrics against hand-worked values, augmentation geometry, save/load, short training
runs, template init at another patch size, and every bad input the issue lists."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
import timm
import torch
import torch.nn.functional as F
from PIL import Image

from sizeless.api import evaluate_model, initialize_full, pretrain, train
from sizeless.data import DataConfig, load_data
from sizeless.errors import SizelessError
from sizeless.families import ImageSpec, get_family
from sizeless.models import load_model
from sizeless.tasks import TASKS, default_fit_lr, get_task
from sizeless.tasks.detection import augment_boxes, coco_map
from sizeless.tasks.model import DenseModel
from sizeless.tasks.segmentation import augment_pair, confusion, segmentation_loss, segmentation_metrics
from sizeless.training import TrainConfig

CLASSES = ["background", "square", "disc"]
VOID = 3


def draw_scene(rng: np.random.Generator, height: int = 40, width: int = 48):
    """An RGB image with a square (class 1) and a disc (class 2) on a noisy background (class 0), a void
    border row, and the square's box."""
    image = rng.integers(0, 60, (height, width, 3)).astype(np.uint8)
    mask = np.zeros((height, width), np.uint8)
    y, x, side = rng.integers(2, height - 18), rng.integers(2, width - 18), rng.integers(10, 16)
    image[y:y + side, x:x + side] = (220, 40, 40)
    mask[y:y + side, x:x + side] = 1
    cy, cx, r = rng.integers(8, height - 8), rng.integers(8, width - 8), 6
    yy, xx = np.mgrid[:height, :width]
    disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    image[disc] = (40, 200, 60)
    mask[disc] = 2
    mask[-1] = VOID
    box = [float(x), float(y), float(side), float(side)]
    return image, mask, box


@pytest.fixture(scope="module")
def seg_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("seg")
    rng = np.random.default_rng(0)
    for split, count in (("train", 16), ("val", 4), ("test", 4)):
        (root / split / "images").mkdir(parents=True)
        (root / split / "masks").mkdir(parents=True)
        for i in range(count):
            image, mask, _ = draw_scene(rng)
            Image.fromarray(image).save(root / split / "images" / f"im{i}.jpg", quality=95)
            Image.fromarray(mask).save(root / split / "masks" / f"im{i}.png")
    (root / "classes.json").write_text(json.dumps({"classes": CLASSES, "ignore_index": VOID}))
    return root


def write_coco(root, split: str, count: int, rng, *, extra=None):
    (root / split / "images").mkdir(parents=True, exist_ok=True)
    images, annotations = [], []
    for i in range(count):
        image, _, box = draw_scene(rng, 48, 64)
        name = f"im{i}.jpg"
        Image.fromarray(image).save(root / split / "images" / name, quality=95)
        images.append({"id": i + 1, "file_name": name, "width": 64, "height": 48})
        annotations.append({"id": i + 1, "image_id": i + 1, "category_id": 7, "bbox": box, "area": box[2] * box[3],
                            "iscrowd": 0})
    spec = {"images": images, "annotations": annotations, "categories": [{"id": 7, "name": "square"}]}
    if extra:
        extra(spec)
    (root / split / "annotations.json").write_text(json.dumps(spec))


@pytest.fixture(scope="module")
def det_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("det")
    rng = np.random.default_rng(1)
    write_coco(root, "train", 16, rng)
    write_coco(root, "val", 4, rng)
    return root


@pytest.fixture(scope="module")
def seg_data(seg_root):
    return load_data(DataConfig(str(seg_root), image_size=32))


@pytest.fixture(scope="module")
def det_data(det_root):
    return load_data(DataConfig(str(det_root), image_size=128))


def tiny(task: str) -> dict:
    if task == "segmentation":  # 32 px crops, patch 8; detection: 128 px canvases, patch 16 (4x4 and 8x8 tokens)
        return {"patch_size": 8, "channels": 16, "task": task}
    return {"patch_size": 16, "channels": 32, "task": task}


# -- data ------------------------------------------------------------------------------------------

def test_segmentation_folder_loads(seg_data):
    assert (seg_data.dense_task, seg_data.num_classes, seg_data.class_names, seg_data.ignore_index) == \
        ("segmentation", 3, CLASSES, VOID)
    assert (len(seg_data.train), len(seg_data.val), len(seg_data.test)) == (16, 4, 4)
    assert seg_data.train.images[0].shape == (3, 32, 38)  # shorter side at the working size, aspect kept
    assert seg_data.train.full_masks[0].shape == (40, 48)  # metrics use the stored masks
    images, masks = seg_data.batch(seg_data.train, torch.arange(3), torch.Generator().manual_seed(0))
    assert images.shape == (3, 3, 32, 32) and masks.shape == (3, 32, 32) and masks.dtype == torch.long


def test_coco_folder_loads(det_data, det_root):
    assert (det_data.dense_task, det_data.num_classes, det_data.class_names) == ("detection", 1, ["square"])
    assert det_data.train.images.shape == (16, 3, 128, 128)
    _, targets = det_data.batch(det_data.train, torch.arange(2))
    assert targets[0]["labels"].tolist() == [1]  # category id 7 -> label 1 (0 is FCOS's background)
    # boxes are scored in the image's own pixels: undoing the letterbox gives the annotation back
    spec = json.loads((det_root / "train" / "annotations.json").read_text())
    x, y, w, h = spec["annotations"][0]["bbox"]
    assert torch.allclose(det_data.train.boxes[0][0] / det_data.train.scales[0], torch.tensor([x, y, x + w, y + h]))


# -- losses and metrics ----------------------------------------------------------------------------

def test_segmentation_loss_ignores_void():
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 4, 5)
    masks = torch.randint(0, 3, (2, 4, 5))
    masks[:, 0] = VOID
    valid = masks != VOID
    expected = F.cross_entropy(logits.permute(0, 2, 3, 1)[valid], masks[valid])
    assert torch.allclose(segmentation_loss(logits, masks, VOID), expected)
    changed = logits.clone()
    changed[:, :, 0] = 100 * torch.randn(2, 3, 5)  # anything at void pixels: same loss
    assert torch.allclose(segmentation_loss(changed, masks, VOID), expected)
    assert segmentation_loss(logits, torch.full_like(masks, VOID), VOID).item() == 0.0


def test_miou_matches_hand_worked_values():
    truth = torch.tensor([[0, 0, 1, 1],
                          [0, 2, 2, VOID]])
    pred = torch.tensor([[0, 1, 1, 1],
                         [0, 2, 0, 2]])
    conf = confusion(pred, truth, 3, VOID)
    assert conf.tolist() == [[2, 1, 0], [0, 2, 0], [1, 0, 1]]
    metrics = segmentation_metrics(conf, CLASSES)
    # IoU: class 0: 2 / (3 + 3 - 2) = 1/2; class 1: 2 / (2 + 3 - 2) = 2/3; class 2: 1 / (2 + 1 - 1) = 1/2
    assert metrics["iou_background"] == pytest.approx(0.5)
    assert metrics["iou_square"] == pytest.approx(2 / 3)
    assert metrics["iou_disc"] == pytest.approx(0.5)
    assert metrics["miou"] == pytest.approx((0.5 + 2 / 3 + 0.5) / 3)
    assert metrics["pixel_acc"] == pytest.approx(5 / 7)  # the void pixel does not count
    assert metrics["mean_acc"] == pytest.approx((2 / 3 + 1 + 1 / 2) / 3)


def test_map_matches_hand_worked_values():
    gt = {"boxes": torch.tensor([[10.0, 10.0, 50.0, 50.0]]), "labels": torch.tensor([1])}
    # one box at IoU 0.725 (29x40 inside 40x40): a hit at thresholds .50-.70 (5 of 10), a miss above
    shifted = {"boxes": torch.tensor([[10.0, 10.0, 39.0, 50.0]]), "scores": torch.tensor([0.9]),
               "labels": torch.tensor([1])}
    result = coco_map([shifted], [gt])
    assert result["map"] == pytest.approx(0.5, abs=1e-4)
    assert result["map_50"] == pytest.approx(1.0) and result["map_75"] == pytest.approx(0.0)
    # two images, exact hits scored 0.6 and 0.4, and a false positive scored 0.9: precision after each
    # detection 0/1, 1/2, 2/3; interpolated precision is 2/3 at every recall, so AP = 2/3 at every IoU
    second = {"boxes": torch.tensor([[0.0, 0.0, 20.0, 20.0]]), "labels": torch.tensor([1])}
    hit1 = {"boxes": gt["boxes"], "scores": torch.tensor([0.6]), "labels": torch.tensor([1])}
    hit2 = {"boxes": torch.tensor([[0.0, 0.0, 20.0, 20.0], [60.0, 60.0, 90.0, 90.0]]),
            "scores": torch.tensor([0.4, 0.9]), "labels": torch.tensor([1, 1])}
    result = coco_map([hit1, hit2], [gt, second])
    assert result["map"] == pytest.approx(2 / 3, abs=1e-4)
    assert result["map_50"] == pytest.approx(2 / 3, abs=1e-4)


# -- augmentation ----------------------------------------------------------------------------------

def test_masks_move_with_the_image():
    rng = np.random.default_rng(3)
    mask = torch.from_numpy(np.kron(rng.integers(0, 3, (5, 6)), np.ones((8, 8), np.int64)).astype(np.uint8))
    image = torch.stack([mask * 60, mask * 0 + 10, mask * 0 + 10]).to(torch.uint8)  # red channel encodes the class
    for seed in range(6):
        g = torch.Generator().manual_seed(seed)
        out, out_mask = augment_pair(image, mask, 24, (1.0, 1.0), 255, g)  # crop + flip only: exact
        assert torch.equal(out[0], out_mask.to(torch.uint8) * 60)
        g = torch.Generator().manual_seed(seed)
        out, out_mask = augment_pair(image, mask, 24, (0.7, 1.6), 255, g)  # with scale jitter
        agree = (out[0].float() - out_mask.float() * 60).abs() < 30
        assert agree.float().mean() > 0.9  # only pixels at class edges may differ (bilinear vs nearest)


def test_boxes_move_with_the_image():
    image = torch.zeros(3, 64, 64, dtype=torch.uint8)
    image[:, 20:40, 8:30] = 255
    boxes, labels = torch.tensor([[8.0, 20.0, 30.0, 40.0]]), torch.tensor([1])
    for seed in range(8):
        g = torch.Generator().manual_seed(seed)
        out, out_boxes, out_labels = augment_boxes(image, boxes, labels, (0.6, 1.4), g)
        assert out.shape == image.shape
        ys, xs = torch.nonzero(out[0] > 128, as_tuple=True)
        if len(out_boxes) == 0:  # cropped away: at most a sliver of the square is left
            assert len(ys) < 4 * 64
            continue
        drawn = torch.tensor([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=torch.float32)
        assert torch.allclose(out_boxes[0], drawn, atol=2.0), (seed, out_boxes, drawn)
        assert out_labels.tolist() == [1]


# -- models ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("task", ["segmentation", "detection"])
def test_save_load_round_trip(task, seg_data, det_data, tmp_path):
    data = seg_data if task == "segmentation" else det_data
    init = initialize_full("32x2", data, method="scratch", out=tmp_path / "m", **tiny(task))
    loaded, config = load_model(tmp_path / "m")
    assert isinstance(loaded, DenseModel) and config["task"] == task
    images, _ = data.batch(data.val, torch.arange(2))
    init.model.eval()
    loaded.eval()
    with torch.no_grad():
        a, b = init.model(images), loaded(images)
    if task == "segmentation":
        assert torch.equal(a, b)
    else:
        for x, y in zip(a, b, strict=True):
            assert all(torch.equal(x[k], y[k]) for k in ("boxes", "scores", "labels"))
    backbone = timm.create_model(f"local-dir:{tmp_path / 'm' / 'backbone'}", pretrained=True)  # a plain timm model
    assert all(torch.equal(v, loaded.backbone.state_dict()[k]) for k, v in backbone.state_dict().items())


@pytest.mark.parametrize("task", ["segmentation", "detection"])
def test_training_lowers_the_loss(task, seg_data, det_data, tmp_path):
    data = seg_data if task == "segmentation" else det_data
    initialize_full("32x2", data, method="scratch", out=tmp_path / "m", **tiny(task))
    objective = TASKS[task].objective(data)
    images, targets = data.batch(data.train, torch.arange(8))

    def loss_of(path) -> float:
        model, _ = load_model(path)
        model.train()  # detection losses exist in training mode; same batch, no augmentation
        torch.manual_seed(0)
        with torch.no_grad():
            return objective(model, images, targets)[0].item()

    before = loss_of(tmp_path / "m")
    config = TrainConfig(steps=25, batch_size=8, lr=3e-3, warmup=0.1, augment=False)
    _, result = train(tmp_path / "m", data, config, out=tmp_path / "t")
    after = loss_of(tmp_path / "t")
    assert after < 0.9 * before, (before, after)
    assert TASKS[task].metrics[0] in {k[4:] for k in result.history[-1] if k.startswith("val_")}


def test_patch_embedding_resampling_keeps_the_token():
    """A ViT carried from 4px to 8px patches computes the same on an image resized as timm resizes kernels."""
    vit = get_family("vit")
    size = vit.parse_size("32x2")
    old, new = ImageSpec(4, 3, 4), ImageSpec(8, 3, 8)
    torch.manual_seed(0)
    model = vit.build(size, old, 5).eval()
    adapted = vit.adapt_model(model, size, old, new).eval()
    x = torch.randn(2, 3, 4, 4)
    bigger = torch.stack([F.interpolate(c[None, None], size=(8, 8), mode="bicubic", antialias=True)[0, 0]
                          for c in x.reshape(-1, 4, 4)]).reshape(2, 3, 8, 8)
    with torch.no_grad():
        assert torch.allclose(model(x), adapted(bigger), atol=1e-4)


def test_mae_bank_on_task_images_initializes_a_dense_model(seg_data, det_data, tmp_path):
    """SWEET's path: a Tucker bank pre-trained by MAE on the segmentation images (no masks read), then
    template init at another patch size for both tasks, the scalers fitted through each task's loss."""
    with pytest.raises(SizelessError, match="needs class labels"):
        pretrain(seg_data, ["32x2"], config=TrainConfig(steps=1, batch_size=4))
    bank = pretrain(seg_data, ["32x2"], objective="mae", constraint="tucker", constraint_config={"ranks": [4, 16, 16]},
                    config=TrainConfig(steps=4, batch_size=4, lr=1e-3), out=tmp_path / "bank")
    assert bank.image.patch_size == 4  # the data's default: image / 8
    seg = initialize_full("48x3", seg_data, bank=tmp_path / "bank", fit=TrainConfig(steps=3, batch_size=4),
                          out=tmp_path / "seg", **tiny("segmentation"))
    assert seg.meta["method"] == "templates" and seg.meta["fit_steps"] == 3
    metrics = evaluate_model(tmp_path / "seg", seg_data, split="test", overlays=tmp_path / "seg.png")
    assert 0 <= metrics["miou"] <= 1 and (tmp_path / "seg.png").stat().st_size > 0
    det = initialize_full("32x2", det_data, bank=bank, fit=TrainConfig(steps=2, batch_size=4), out=tmp_path / "det",
                          **tiny("detection"))
    assert isinstance(det.model, DenseModel)


# -- bad input -------------------------------------------------------------------------------------

def copy_tree(src, dst):
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_mask_values_outside_the_classes(seg_root, tmp_path, run_cli):
    root = copy_tree(seg_root, tmp_path / "seg")
    bad = np.zeros((40, 48), np.uint8)
    bad[0, 0] = 7
    Image.fromarray(bad).save(root / "val" / "masks" / "im1.png")
    with pytest.raises(SizelessError, match=r"im1.png: mask values \[7\] are outside the 3 classes"):
        load_data(DataConfig(str(root)))
    code, _, err = run_cli("init", "--data", str(root), "--size", "32x2", "--method", "scratch",
                           "--out", str(tmp_path / "m"))
    assert code == 2 and "mask values [7]" in err and "Traceback" not in err
    assert not (tmp_path / "m").exists()  # nothing written


def test_image_without_mask_or_of_another_size(seg_root, tmp_path):
    root = copy_tree(seg_root, tmp_path / "seg")
    (root / "train" / "masks" / "im3.png").unlink()
    with pytest.raises(SizelessError, match=r"im3.jpg has no mask"):
        load_data(DataConfig(str(root)))
    Image.fromarray(np.zeros((20, 20), np.uint8)).save(root / "train" / "masks" / "im3.png")
    with pytest.raises(SizelessError, match=r"im3.jpg is 48x40 but its mask .* is 20x20"):
        load_data(DataConfig(str(root)))


def test_coco_file_naming_a_missing_image(det_root, tmp_path):
    root = copy_tree(det_root, tmp_path / "det")
    (root / "val" / "images" / "im2.jpg").unlink()
    with pytest.raises(SizelessError, match=r"names image 'im2.jpg' .* which is not in"):
        load_data(DataConfig(str(root), image_size=128))


def test_boxes_outside_the_image_are_clipped_and_counted(tmp_path, run_cli):
    def outside(spec):
        spec["annotations"][0]["bbox"] = [50.0, 30.0, 40.0, 40.0]  # reaches past 64x48
        spec["annotations"].append({"id": 99, "image_id": 2, "category_id": 7, "bbox": [70.0, 60.0, 5.0, 5.0]})

    write_coco(tmp_path / "det", "train", 6, np.random.default_rng(2), extra=outside)
    data = load_data(DataConfig(str(tmp_path / "det"), image_size=128))
    assert (data.clipped, data.dropped) == (1, 1)
    assert any("clipped" in note for note in data.notes())
    everything = torch.cat([b / s for b, s in zip(data.train.boxes + data.val.boxes,
                                                   torch.cat([data.train.scales, data.val.scales]), strict=True)])
    assert everything[:, 2].max() <= 64 + 1e-4 and everything[:, 3].max() <= 48 + 1e-4


def test_empty_annotation_list(tmp_path):
    write_coco(tmp_path / "det", "train", 3, np.random.default_rng(2), extra=lambda s: s.update(annotations=[]))
    with pytest.raises(SizelessError, match="empty annotation list"):
        load_data(DataConfig(str(tmp_path / "det"), image_size=128))


def test_detection_model_given_to_segmentation_eval(det_data, seg_root, tmp_path, run_cli):
    initialize_full("32x2", det_data, method="scratch", out=tmp_path / "det", **tiny("detection"))
    code, _, err = run_cli("eval", "--model", str(tmp_path / "det"), "--data", str(seg_root), "--image-size", "32")
    assert code == 2 and "is a detection model" in err and "segmentation data" in err
    code, _, err = run_cli("eval", "--model", str(tmp_path / "det"), "--data", str(seg_root), "--task", "detection")
    assert code == 2 and "--task detection but" in err
    assert not list(tmp_path.glob("det/overlays*"))


def test_cli_segmentation_end_to_end(seg_root, tmp_path, run_cli):
    code, out, err = run_cli("init", "--data", str(seg_root), "--task", "segmentation", "--size", "32x2",
                             "--method", "scratch", "--image-size", "32", "--patch-size", "8",
                             "--decoder-channels", "16", "--out", str(tmp_path / "m"))
    assert code == 0, err
    code, out, err = run_cli("train", "--model", str(tmp_path / "m"), "--data", str(seg_root), "--epochs", "1",
                             "--batch-size", "8", "--out", str(tmp_path / "t"))
    assert code == 0, err
    code, out, err = run_cli("eval", "--model", str(tmp_path / "t"), "--data", str(seg_root), "--split", "test",
                             "--json")
    assert code == 0, err
    metrics = json.loads(out)
    assert {"miou", "pixel_acc", "iou_disc"} <= set(metrics)
    assert (tmp_path / "t" / "overlays-test.png").exists()


def test_dense_from_a_trained_classifier(seg_data, tmp_path):
    """--from-model: any ViT classifier folder (here one built for 16px inputs, patch 4) becomes a backbone,
    carried to the task's input size and patch size."""
    from sizeless.models import save_model

    vit = get_family("vit")
    size, image = vit.parse_size("32x2"), ImageSpec(16, 3, 4)
    arch, args = vit.model_args(size, image, 7)
    save_model(vit.build(size, image, 7), tmp_path / "clf", arch, args, None, {"family": "vit", "size": size.key})
    init = initialize_full(None, seg_data, method="pretrained", backbone=tmp_path / "clf", out=tmp_path / "seg",
                           **tiny("segmentation"))
    backbone = init.model.backbone
    assert backbone.patch_embed.proj.weight.shape[-1] == 8 and backbone.pos_embed.shape[1] == (32 // 8) ** 2 + 1
    assert load_model(tmp_path / "seg")[1]["sizeless"]["backbone_from"] == str(tmp_path / "clf")


@pytest.mark.slow
def test_bench_init_on_a_dense_task(seg_root, tmp_path, run_cli):
    """The fair bench judges dense models on the task's metric: CIFAR-like source images build the bank
    (here: random RGB images labelled by colour), the segmentation data is the target."""
    cifar_like = tmp_path / "cifar"
    rng = np.random.default_rng(5)
    for label in ("red", "green"):
        (cifar_like / "train" / label).mkdir(parents=True)
        (cifar_like / "val" / label).mkdir(parents=True)
        for i in range(24):
            image = rng.integers(0, 80, (16, 16, 3)).astype(np.uint8)
            image[..., 0 if label == "red" else 1] += 150
            Image.fromarray(image).save(cifar_like / ("train" if i < 16 else "val") / label / f"{i}.png")
    code, _, err = run_cli("bench", "init", "--data", str(seg_root), "--source-data", str(cifar_like),
                             "--task", "segmentation", "--image-size", "32", "--task-patch-size", "8",
                             "--decoder-channels", "16", "--sizes", "32x2", "--bank-size", "32x2",
                             "--template-width", "16", "--methods", "templates,templates-mae,scratch",
                             "--pretrain-epochs", "1", "--mae-epochs", "1", "--fit-steps", "2", "--epochs", "2",
                             "--lrs", "1e-3,3e-3", "--out", str(tmp_path / "b"))
    assert code == 0, err
    report = (tmp_path / "b" / "report.md").read_text()
    assert "Final test mean IoU" in report and "| 32x2h1 |" in report
    rows = json.loads((tmp_path / "b" / "results.json").read_text())["rows"]
    chosen = [r for r in rows if r["status"] == "ok" and r["selected"] and "test_miou" in r]
    assert {r["method"] for r in chosen} == {"templates", "templates-mae", "scratch"}
    assert all(0 <= r["test_miou"] <= 1 for r in chosen)
    assert {r["pretrain_flops"] for r in rows if r["method"] == "scratch" and r["status"] == "ok"} == {0}
    assert (tmp_path / "b" / "overlays" / "scratch-32x2h1.png").exists()
    # a cached run is not reused at another patch: its folder's name does not say which it was made at
    code, _, err = run_cli("bench", "init", "--data", str(seg_root), "--source-data", str(cifar_like),
                           "--task", "segmentation", "--image-size", "32", "--task-patch-size", "16",
                           "--decoder-channels", "16", "--sizes", "32x2", "--bank-size", "32x2",
                           "--template-width", "16", "--methods", "scratch", "--pretrain-epochs", "1",
                           "--epochs", "2", "--lrs", "1e-3,3e-3", "--out", str(tmp_path / "b"), "--finished-only")
    assert code != 0 and "patch_size 8 (asked 16)" in err and "Traceback" not in err
    # a given MAE bank is costed at the batch it trained with (8 here), not at the bench's own MAE batch (32)
    code, _, err = run_cli("pretrain", "--objective", "mae", "--constraint", "tucker", "--ranks", "16,64,64",
                           "--data", str(cifar_like), "--size", "32x2", "--image-size", "32", "--patch-size", "8",
                           "--epochs", "1", "--batch-size", "8", "--out", str(tmp_path / "mae8"))
    assert code == 0, err
    code, _, err = run_cli("bench", "init", "--data", str(seg_root), "--pretrained-from", str(tmp_path / "b"),
                           "--task", "segmentation", "--decoder-channels", "16", "--sizes", "32x2",
                           "--methods", "templates-mae", "--mae-bank", str(tmp_path / "mae8"), "--fit-steps", "2",
                           "--epochs", "2", "--out", str(tmp_path / "c"))
    assert code == 0, err
    steps = json.loads((tmp_path / "mae8" / "config.json").read_text())["steps"]
    cost = json.loads((tmp_path / "c" / "results.json").read_text())["meta"]["inputs"]["templates-mae"]
    assert cost["images"] == steps * 8


@pytest.mark.parametrize("task", ["segmentation", "detection"])
def test_cnn_backbones_take_pyramid_heads(task, seg_data, det_data, tmp_path):
    """ConvNeXt stages feed smp's FPN decoder (segmentation) or torchvision's FPN + FCOS (detection)."""
    data = seg_data if task == "segmentation" else det_data
    init = initialize_full("16x1-1-1-1", data, method="scratch", family="convnext", channels=32, task=task,
                           out=tmp_path / "m")
    assert init.model.head.config["name"] == ("fpn" if task == "segmentation" else "fcos")
    loaded, _ = load_model(tmp_path / "m")
    images, _ = data.batch(data.val, torch.arange(2))
    init.model.eval()
    loaded.eval()
    with torch.no_grad():
        a, b = init.model(images), loaded(images)
    if task == "segmentation":
        assert a.shape == (2, 3, 32, 32) and torch.equal(a, b)
    else:
        assert all(torch.equal(x["boxes"], y["boxes"]) for x, y in zip(a, b, strict=True))


def test_holdout_carves_validation_and_reports_the_shipped_split(seg_root, det_root):
    """Choices are made on a validation split carved from train; what is reported is never chosen on."""
    seg = load_data(DataConfig(str(seg_root), image_size=32, holdout=4))
    assert (len(seg.train), len(seg.val), len(seg.test)) == (12, 4, 4)  # CamVid-like: the test split stays
    det = load_data(DataConfig(str(det_root), image_size=128, holdout=4))
    assert (len(det.train), len(det.val), len(det.test)) == (12, 4, 4)  # raccoon-like: its val becomes test
    assert not set(det.val.names) & set(det.train.names)
    with pytest.raises(SizelessError, match="leaves no training images"):
        load_data(DataConfig(str(det_root), image_size=128, holdout=16))


def test_dense_macs_count_the_head():
    from types import SimpleNamespace

    from sizeless.flops import macs_per_image
    from sizeless.tasks.run import dense_macs

    vit = get_family("vit")
    size, image = vit.parse_size("32x2"), ImageSpec(128, 3, 16)
    backbone = macs_per_image(lambda: vit.build(size, image, 0), 3, 128)
    data = SimpleNamespace(img_size=128, in_chans=3, num_classes=3)
    for task in ("segmentation", "detection"):
        total = dense_macs(task, "vit", "32x2", data, patch_size=16, channels=32)
        assert total > backbone > 0


def test_a_missing_dense_extra_is_one_line(monkeypatch):
    from sizeless.errors import require

    monkeypatch.setitem(sys.modules, "segmentation_models_pytorch", None)  # what an absent package imports as
    with pytest.raises(SizelessError, match=r"pip install 'sizeless\[dense\]'"):
        require("segmentation_models_pytorch", "dense")


def test_a_budget_on_dense_data_is_refused_not_miscounted(seg_root, bank_dir, tmp_path, run_cli):
    """A budget counts the bank's classifiers; a segmentation model adds a head the count would leave out."""
    code, _, err = run_cli("init", "--bank", str(bank_dir), "--data", str(seg_root), "--max-params", "1000000",
                           "--out", str(tmp_path / "m"))
    assert code == 2 and "not a segmentation model's head" in err and "--size" in err and "Traceback" not in err
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("given", [None, "5e-4"])
def test_template_fit_on_dense_data_runs_at_the_tasks_learning_rate(seg_root, seg_data, tmp_path, run_cli, given):
    """A dense head is a fresh network: the fit defaults to the task's LR (not the classifier fit's 3e-3), and
    --fit-lr overrides it; the model records the one it used."""
    pretrain(seg_data, ["32x2"], objective="mae", constraint="tucker", constraint_config={"ranks": [4, 16, 16]},
             config=TrainConfig(steps=1, batch_size=4), out=tmp_path / "bank")
    args = ["init", "--bank", str(tmp_path / "bank"), "--data", str(seg_root), "--size", "32x2", "--image-size", "32",
            "--decoder-channels", "16", "--fit-steps", "1", "--batch-size", "4",
            "--out", str(tmp_path / "m")] + (["--fit-lr", given] if given else [])
    code, _, err = run_cli(*args)
    assert code == 0, err
    record = json.loads((tmp_path / "m" / "config.json").read_text())["sizeless"]
    assert record["fit_lr"] == (float(given) if given else get_task("segmentation").fit_lr) != 3e-3
    assert default_fit_lr(load_data(DataConfig(str(seg_root)))) == get_task("segmentation").fit_lr
