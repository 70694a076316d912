"""The DiT initializer benchmark now lives in the library as `sizeless bench generate` (same flags, same cache
layout under --work). This forwarder keeps the commands quoted by the reports written before the move runnable:

    OMP_NUM_THREADS=1 python benchmarks/dit_bench.py --data ../shared/data/cifar10-jpeg --out benchmarks/dit-cifar10
"""

import sys

from sizeless.cli import main

if __name__ == "__main__":
    main(["bench", "generate", *sys.argv[1:]])
