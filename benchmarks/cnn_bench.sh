#!/usr/bin/env bash
# The CNN quick profile of `sizeless bench init` (issue #6), one process at a time on a 2-core CPU:
# ConvNeXt and ResNet, every initializer, with stage-shared templates (the default when these ran;
# the committed reports record the command without the flag); the stage-sharing comparison
# (templates with one template set per stage, which won and is now the default); the ConvNeXt
# layer-scale measurement. Usage: benchmarks/cnn_bench.sh DATA
# The committed reports ran under the bench's earlier protocol (150/100 fit steps on a 2000-image subset,
# on top of the target budget); the bench now counts fit steps inside the target budget and has no
# --fit-subset, so a rerun measures the fair protocol and its numbers replace those reports'.
set -euo pipefail
DATA=${1:-../shared/data/cifar10-jpeg}
B=benchmarks
sizeless() { python -m sizeless.cli "$@"; }

CONVNEXT=(--family convnext --data "$DATA" --sizes 16x3-3-3-3,32x2-2-2-2,32x3-3-3-3 --bank-size 16x2-2-2-2
          --teacher-size 32x3-3-3-3 --template-width 8 --num-templates 4 --fit-steps 150 --epochs 3
          --train-subset 4000 --val-subset 2000 --pretrain-subset 8000 --pretrain-epochs 3
          --pretrain-lr 3e-3 --seeds 1)
RESNET=(--family resnet --data "$DATA" --sizes 8x3-3-3-3,16x2-2-2-2,16x3-3-3-3 --bank-size 8x2-2-2-2
        --teacher-size 16x3-3-3-3 --template-width 4 --num-templates 4 --fit-steps 100 --epochs 2
        --train-subset 4000 --val-subset 2000 --pretrain-subset 8000 --pretrain-epochs 2
        --pretrain-lr 3e-3 --seeds 1)

sizeless bench init "${CONVNEXT[@]}" --share-stages --out $B/bench-init-cifar10-convnext
python $B/cnn_layer_scale.py --bench $B/bench-init-cifar10-convnext --out $B/cnn-layer-scale
sizeless bench init "${RESNET[@]}" --share-stages --out $B/bench-init-cifar10-resnet
sizeless bench init "${CONVNEXT[@]}" --no-share-stages --methods templates --out $B/bench-init-cifar10-convnext-per-stage
# a second seed for the default (per stage) against random init; the later --seeds wins. (In the committed
# run the seed-0 scratch runs were copied from bench-init-cifar10-convnext/runs: the same runs, not recomputed.)
sizeless bench init "${CONVNEXT[@]}" --no-share-stages --methods templates,scratch --seeds 2 \
    --out $B/bench-init-cifar10-convnext-per-stage
sizeless bench init "${RESNET[@]}" --no-share-stages --methods templates --out $B/bench-init-cifar10-resnet-per-stage
# template capacity: the ResNet bank at template width 8 (m = 1 at the bank's width) instead of 4, per-stage sets
# (the later --template-width wins)
sizeless bench init "${RESNET[@]}" --template-width 8 --methods templates \
    --out $B/bench-init-cifar10-resnet-w8
