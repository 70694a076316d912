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
        a, b = one[key], two[key]
        if key.endswith("attn.qkv.bias"):
            # The key bias has a zero gradient (softmax ignores a constant shift per query), so its
            # updates are Adam-normalized rounding noise that differs with the all-reduce's summation
            # order: both runs must keep it at noise level, the query and value biases must match.
            q, k, v = a.chunk(3)
            q2, k2, v2 = b.chunk(3)
            assert k.abs().max() < 1e-4 and k2.abs().max() < 1e-4, key
            a, b = torch.cat([q, v]), torch.cat([q2, v2])
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5, msg=key)
