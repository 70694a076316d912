import io
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from sizeless.data import DataConfig, load_data
from sizeless.errors import SizelessError


def _jpeg(seed: int, size: int = 12) -> bytes:
    rng = np.random.default_rng(seed)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(buf, format="JPEG")
    return buf.getvalue()


def _write_parquet(path, n, names=("cat", "dog", "emu")):
    images = [{"bytes": _jpeg(i), "path": f"{i}.jpg"} for i in range(n)]
    table = pa.table({"img": images, "label": [i % len(names) for i in range(n)]})
    features = {"img": {"_type": "Image"}, "label": {"_type": "ClassLabel", "names": list(names)}}
    meta = {b"huggingface": json.dumps({"info": {"features": features}}).encode()}
    pq.write_table(table.replace_schema_metadata(meta), path)


def test_digits_split_is_fixed_and_subsets_work():
    a, b = load_data("digits"), load_data(DataConfig("digits", train_subset=100, image_size=16))
    assert a.num_classes == 10 and a.in_chans == 1 and a.img_size == 8
    assert len(a.train) + len(a.val) == 1797
    assert len(b.train) == 100 and b.img_size == 16
    assert (load_data("digits").val.labels == a.val.labels).all()


def test_parquet_folder_in_hf_layout(tmp_path):
    _write_parquet(tmp_path / "train.parquet", 12)
    _write_parquet(tmp_path / "test.parquet", 6)
    data = load_data(DataConfig(str(tmp_path), classes=[0, 2]))
    assert data.class_names == ["cat", "emu"] and data.num_classes == 2
    assert data.train.images.shape == (8, 3, 12, 12) and len(data.val) == 4
    assert set(data.train.labels.tolist()) == {0, 1}


def test_image_folder_tree(tmp_path):
    for label in ("a", "b"):
        (tmp_path / label).mkdir()
        for i in range(5):
            (tmp_path / label / f"{i}.jpg").write_bytes(_jpeg(i))
    data = load_data(DataConfig(str(tmp_path), val_fraction=0.2))
    assert data.class_names == ["a", "b"] and len(data.train) == 8 and len(data.val) == 2


def test_bad_data_paths(tmp_path):
    with pytest.raises(SizelessError, match="does not exist"):
        load_data(str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(SizelessError, match="no class subfolders"):
        load_data(str(tmp_path / "empty"))
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "train.parquet").write_bytes(b"not parquet at all")
    with pytest.raises(SizelessError, match="not a readable parquet file"):
        load_data(str(tmp_path / "junk"))
    with pytest.raises(SizelessError, match="classes"):
        load_data(DataConfig("digits", classes=[3, 12]))


def test_image_folder_with_mixed_modes_sizes_and_a_corrupt_file(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    Image.new("L", (10, 10), 128).save(tmp_path / "a" / "gray.png")
    Image.new("RGB", (12, 8), (1, 2, 3)).save(tmp_path / "b" / "wide.png")
    data = load_data(DataConfig(str(tmp_path), val_fraction=0.5))
    assert data.in_chans == 3 and data.train.images.shape[-2:] == (12, 12)
    (tmp_path / "b" / "broken.jpg").write_bytes(b"not an image")
    with pytest.raises(SizelessError, match=r"broken\.jpg: not a readable image"):
        load_data(str(tmp_path))
