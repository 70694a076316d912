"""The DiT initializer benchmark now lives in the library as `sizeless bench generate` (same flags, same cache
layout under --work). This forwarder keeps the commands quoted by the reports written before the move runnable,
with the LR sweep those reports used (3 LRs over 150 steps; `bench generate` now sweeps 4 over the whole budget)
their one pre-training LR (`bench generate` now searches 3 per pre-trained input) and their bank with free
per-layer scalers (`bench generate` now holds them on a line over depth by default):

    OMP_NUM_THREADS=1 python benchmarks/dit_bench.py --data ../shared/data/cifar10-jpeg --out benchmarks/dit-cifar10
"""

import sys

from sizeless.cli import main

if __name__ == "__main__":
    main(["bench", "generate", "--lrs", "3e-4,1e-3,3e-3", "--sweep-steps", "150", "--pretrain-lrs", "1e-3",
          "--bank-scalers", "learned", *sys.argv[1:]])
