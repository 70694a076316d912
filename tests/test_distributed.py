"""Two CPU processes under torchrun (gloo) give the weights of one process with the same global batch."""

import os
import subprocess
import sys

import torch
from safetensors.torch import load_file

ARGS = ["train", "--size", "32x2", "--data", "digits", "--train-subset", "256", "--val-subset", "64",
        "--epochs", "2", "--batch-size", "32"]


def _run(prefix: list[str], out) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([*prefix, *ARGS, "--out", str(out)], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return load_file(str(out / "model.safetensors"))


def test_two_processes_match_one(tmp_path):
    one = _run([sys.executable, "-m", "sizeless.cli"], tmp_path / "one")
    two = _run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                "-m", "sizeless.cli"], tmp_path / "two")
    assert one.keys() == two.keys()
    for key in one:
        torch.testing.assert_close(one[key], two[key], rtol=1e-4, atol=1e-5, msg=key)
