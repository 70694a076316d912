#!/usr/bin/env bash
# The Decision Transformer benchmark, end to end (one process at a time; every step is cached and resumes):
#   1. PPO experts + Minari datasets (make_datasets.py), 2. the initializer benchmark at three unseen sizes on a task
#   the bank saw (Walker2d-v5), 3. the same on a held-out task (HalfCheetah-v5), judged on its expert data and on its
#   medium data, reusing the bank, learngene, teacher; 4. few demonstrations: the held-out task's medium data with 2
#   of its training episodes (--train-subset), at every size; 5. the N = 8 bank; 6. mixed-quality (medium-expert)
#   data; 7. its bank from a second seed; 8. mixed-quality data with five times the pre-training; 9. under the
#   task-parts rule, size-sampled banks; 10. a Tucker bank.
# Every method gets the same 150 behavior-cloning steps (template methods' 20 fit steps inside them) at the LR of
# the sweep with the lowest loss on held-out episodes. The weight-selection teacher and direct pre-training get the
# bank's FLOPs at their own size (the committed reports of steps 2-5 predate that rule and gave them the bank's steps).
# Bank, learngene, teacher and direct pre-training see Hopper + Walker2d (medium and expert data: multi-task).
set -euo pipefail
cd "$(dirname "$0")/../.."
export OMP_NUM_THREADS=1 MINARI_DATASETS_PATH="${MINARI_DATASETS_PATH:-$PWD/runs/minari}"
python benchmarks/control/make_datasets.py --store "$MINARI_DATASETS_PATH" --steps 100000 --snapshot-every 10000 \
    --dataset-steps 30000
SOURCE=minari:sizeless/hopper/medium-v0,sizeless/hopper/expert-v0,sizeless/walker2d/medium-v0,sizeless/walker2d/expert-v0
COMMON=(--family decision-transformer --source-data "$SOURCE" --bank-size 32x2 --template-width 16 --num-templates 4
        --teacher-size 64x4 --pretrain-steps 400 --fit-steps 20 --train-steps 150 --lrs 3e-4,1e-3,3e-3 --batch-size 32
        --context 10 --episodes 10 --seeds "${SEEDS:-3}")
sizeless bench init "${COMMON[@]}" --data minari:sizeless/walker2d/medium-v0 --sizes 32x4,64x2,64x4 \
    --eval-steps 20,50,100 --out benchmarks/control/bench-walker2d
HELD=(--bank benchmarks/control/bench-walker2d/bank --learngene benchmarks/control/bench-walker2d/learngene
      --teacher benchmarks/control/bench-walker2d/teacher)
sizeless bench init "${COMMON[@]}" --data minari:sizeless/halfcheetah/expert-v0 --sizes 48x3 --eval-steps 10,20,50,100 \
    "${HELD[@]}" --out benchmarks/control/bench-halfcheetah-expert-heldout
sizeless bench init "${COMMON[@]}" --data minari:sizeless/halfcheetah/medium-v0 --sizes 48x3 --eval-steps 10,20,50,100 \
    "${HELD[@]}" --out benchmarks/control/bench-halfcheetah-heldout
sizeless bench init "${COMMON[@]}" --data minari:sizeless/halfcheetah/medium-v0 --train-subset 2 \
    --sizes 48x3,32x4,64x2,64x4 --eval-steps 10,20,50,100 "${HELD[@]}" --out benchmarks/control/bench-halfcheetah-heldout-2ep
# 5. The N = 8 bank variant (templates only; every other method read from the N = 4 benches with --compare-with).
N8=(--family decision-transformer --source-data "$SOURCE" --bank-size 32x2 --template-width 16 --num-templates 8
    --teacher-size 64x4 --pretrain-steps 400 --fit-steps 20 --train-steps 150 --lrs 3e-4,1e-3,3e-3 --batch-size 32
    --context 10 --episodes 10 --seeds "${SEEDS:-3}" --methods templates)
sizeless bench init "${N8[@]}" --data minari:sizeless/walker2d/medium-v0 --sizes 32x4,64x2,64x4 --eval-steps 20,50,100 \
    --out benchmarks/control/bench-walker2d-n8 --compare-with benchmarks/control/bench-walker2d
for target in heldout-2ep heldout expert-heldout; do
    case $target in
        heldout-2ep) DATA=(--data minari:sizeless/halfcheetah/medium-v0 --train-subset 2 --sizes 48x3,32x4,64x2,64x4) ;;
        heldout) DATA=(--data minari:sizeless/halfcheetah/medium-v0 --sizes 48x3) ;;
        expert-heldout) DATA=(--data minari:sizeless/halfcheetah/expert-v0 --sizes 48x3) ;;
    esac
    sizeless bench init "${N8[@]}" "${DATA[@]}" --eval-steps 10,20,50,100 --bank benchmarks/control/bench-walker2d-n8/bank \
        --out "benchmarks/control/bench-halfcheetah-$target-n8" --compare-with "benchmarks/control/bench-halfcheetah-$target"
done
# 6. Mixed-quality data (D4RL's medium-expert, made by step 1): the held-out HalfCheetah at four unseen sizes, then
#    Walker2d (seen in pre-training) at three, on the first bench's bank, learngene and teacher. Those are pre-trained
#    on Hopper + Walker2d medium-expert (one state normalization per body). The LR grid reaches 3e-2: on this data
#    every method chose 3e-3, the top of the grid above, and then mostly 1e-2 (3e-2 only mimetic at one size).
MIXED=(--family decision-transformer --bank-size 32x2 --template-width 16 --num-templates 4 --teacher-size 64x4
       --pretrain-steps 400 --fit-steps 20 --train-steps 150 --lrs 3e-4,1e-3,3e-3,1e-2,3e-2 --batch-size 32
       --context 10 --episodes 10 --seeds "${SEEDS:-3}"
       --source-data minari:sizeless/hopper/medium-expert-v0,sizeless/walker2d/medium-expert-v0)
sizeless bench init "${MIXED[@]}" --data minari:sizeless/halfcheetah/medium-expert-v0 --sizes 48x3,32x4,64x2,64x4 \
    --eval-steps 10,20,50,100 --out benchmarks/control/bench-halfcheetah-medexp-heldout
IN=benchmarks/control/bench-halfcheetah-medexp-heldout
sizeless bench init "${MIXED[@]}" --data minari:sizeless/walker2d/medium-expert-v0 --sizes 32x4,64x2,64x4 \
    --eval-steps 20,50,100 --bank $IN/bank --learngene $IN/learngene --teacher $IN/teacher \
    --out benchmarks/control/bench-walker2d-medexp
# 7. Both benches' templates with a bank pre-trained from seed 1 (every other method read from the seed-0 bench)
B1=benchmarks/control/bench-halfcheetah-medexp-bankseed1
sizeless pretrain --family decision-transformer --data minari:sizeless/hopper/medium-expert-v0,sizeless/walker2d/medium-expert-v0 \
    --size 32x2 --template-width 16 --num-templates 4 --epochs 4 --steps 400 --batch-size 32 --lr 1e-3 --context 10 \
    --seed 1 --out $B1/bank
sizeless bench init "${MIXED[@]}" --data minari:sizeless/halfcheetah/medium-expert-v0 --sizes 48x3,32x4,64x2,64x4 \
    --eval-steps 10,20,50,100 --methods templates --bank $B1/bank --out $B1 \
    --compare-with benchmarks/control/bench-halfcheetah-medexp-heldout
sizeless bench init "${MIXED[@]}" --data minari:sizeless/walker2d/medium-expert-v0 --sizes 32x4,64x2,64x4 \
    --eval-steps 20,50,100 --methods templates --bank $B1/bank --out benchmarks/control/bench-walker2d-medexp-bankseed1 \
    --compare-with benchmarks/control/bench-walker2d-medexp
# 8. Five times the pre-training (2000 bank steps; the teacher and direct pre-training FLOPs-matched to it)
P=benchmarks/control/bench-halfcheetah-medexp-heldout-p2000
MIXED2000=("${MIXED[@]}" --pretrain-steps 2000)  # the later flag overrides MIXED's 400
sizeless bench init "${MIXED2000[@]}" --data minari:sizeless/halfcheetah/medium-expert-v0 --sizes 48x3,32x4,64x2,64x4 \
    --eval-steps 10,20,50,100 --out $P
sizeless bench init "${MIXED2000[@]}" --data minari:sizeless/walker2d/medium-expert-v0 --sizes 32x4,64x2,64x4 \
    --eval-steps 20,50,100 --bank $P/bank --learngene $P/learngene --teacher $P/teacher \
    --out benchmarks/control/bench-walker2d-medexp-p2000
# Steps 2-8 ran before policies carried their pre-trained embeddings and heads to seen environments (before
# 2026-12-07's task-parts rule; their run folders record no `task_parts` and a rerun in place is refused).
# 9. Under that rule, at the 2000-step budget:
#  a. a size-sampled bank (each step at a width of 32 or 64 and a depth of 2, 3 or 4; as many steps as spend 2000
#     steps' FLOPs at 32x2), templates only, beside step 8's methods (held-out HalfCheetah: no task parts to carry)
S=benchmarks/control/bench-halfcheetah-medexp-heldout-sampled
SAMPLED=(--bank-widths 32,64 --bank-depths 2,3,4)
sizeless bench init "${MIXED2000[@]}" "${SAMPLED[@]}" --data minari:sizeless/halfcheetah/medium-expert-v0 \
    --sizes 48x3,32x4,64x2,64x4 --eval-steps 10,20,50,100 --methods templates --out $S --compare-with $P
#  b. direct pre-training on the held-out body, now with new embeddings and heads (it kept Walker2d's before: the
#     sizes match)
sizeless bench init "${MIXED2000[@]}" --data minari:sizeless/halfcheetah/medium-expert-v0 --sizes 48x3,32x4,64x2,64x4 \
    --eval-steps 10,20,50,100 --methods direct,direct-amortized --bank $P/bank --compare-with $P \
    --out benchmarks/control/bench-halfcheetah-medexp-heldout-p2000-fresh
#  c. Walker2d (seen): templates, TLEG and weight selection carry their task parts (new bank, learngene and teacher,
#     which store them); scratch, mimetic and direct read from step 8 (direct kept them before too)
sizeless bench init "${MIXED2000[@]}" --data minari:sizeless/walker2d/medium-expert-v0 --sizes 32x4,64x2,64x4 \
    --eval-steps 20,50,100 --methods templates,linear-expansion,weight-selection \
    --compare-with benchmarks/control/bench-walker2d-medexp-p2000 --out benchmarks/control/bench-walker2d-medexp-p2000-carried
#  d. Walker2d with the size-sampled bank of 9a, which carries its task parts (built here), beside 9c
sizeless bench init "${MIXED2000[@]}" "${SAMPLED[@]}" --data minari:sizeless/walker2d/medium-expert-v0 \
    --sizes 32x4,64x2,64x4 --eval-steps 20,50,100 --methods templates \
    --compare-with benchmarks/control/bench-walker2d-medexp-p2000-carried --out benchmarks/control/bench-walker2d-medexp-sampled-carried
#  e. A third of the behavior-cloning budget (50 steps on their own schedule) on the held-out body: does a template
#     policy reach scratch's 150-step score with a third of the steps?
sizeless bench init "${MIXED2000[@]}" --data minari:sizeless/halfcheetah/medium-expert-v0 --sizes 48x3,32x4,64x2,64x4 \
    --train-steps 50 --eval-steps 10,20 --methods templates,scratch --bank $S/bank \
    --out benchmarks/control/bench-halfcheetah-medexp-heldout-sampled-50steps
# (bench-walker2d-medexp-sampled ran 9a's bank on Walker2d before that bank stored its task parts: templates started
#  with new ones there. A rerun of 9a upgrades the bank's record, so that folder now refuses a rerun.)
#  f. A second draw of 9a's size-sampled bank (pre-training seed 1; its draws spend 2000 steps' FLOPs in 571 steps),
#     templates only, on both bodies
S1=benchmarks/control/bench-halfcheetah-medexp-heldout-sampled-bankseed1
sizeless pretrain --family decision-transformer --data minari:sizeless/hopper/medium-expert-v0,sizeless/walker2d/medium-expert-v0 \
    --size 32x2 --template-width 16 --num-templates 4 --epochs 4 --steps 571 --batch-size 32 --lr 1e-3 --context 10 \
    --seed 1 --width-sampling 32,64 --depth-sampling 2,3,4 --out $S1/bank
sizeless bench init "${MIXED2000[@]}" --data minari:sizeless/halfcheetah/medium-expert-v0 --sizes 48x3,32x4,64x2,64x4 \
    --eval-steps 10,20,50,100 --methods templates --bank $S1/bank --out $S1 --compare-with $P
sizeless bench init "${MIXED2000[@]}" --data minari:sizeless/walker2d/medium-expert-v0 --sizes 32x4,64x2,64x4 \
    --eval-steps 20,50,100 --methods templates --bank $S1/bank --out benchmarks/control/bench-walker2d-medexp-sampled-bankseed1 \
    --compare-with benchmarks/control/bench-walker2d-medexp-p2000-carried
# 10. A Tucker (SWEET) bank at the same place (32x2; ranks 24 = 2 layers x 12 square slices, 32, 32), templates only,
#     on the held-out body beside steps 8/9b and on Walker2d beside 9c (it carries its task parts there)
TK=benchmarks/control/bench-halfcheetah-medexp-heldout-tucker
sizeless bench init "${MIXED2000[@]}" --constraint tucker --ranks 24,32,32 --data minari:sizeless/halfcheetah/medium-expert-v0 \
    --sizes 48x3,32x4,64x2,64x4 --eval-steps 10,20,50,100 --methods templates --out $TK --compare-with $P
sizeless bench init "${MIXED2000[@]}" --constraint tucker --ranks 24,32,32 --data minari:sizeless/walker2d/medium-expert-v0 \
    --sizes 32x4,64x2,64x4 --eval-steps 20,50,100 --methods templates --bank $TK/bank \
    --out benchmarks/control/bench-walker2d-medexp-tucker --compare-with benchmarks/control/bench-walker2d-medexp-p2000-carried
#     and a second draw of that bank (pre-training seed 1) on the held-out body
TK1=benchmarks/control/bench-halfcheetah-medexp-heldout-tucker-bankseed1
sizeless pretrain --family decision-transformer --data minari:sizeless/hopper/medium-expert-v0,sizeless/walker2d/medium-expert-v0 \
    --size 32x2 --constraint tucker --ranks 24,32,32 --epochs 4 --steps 2000 --batch-size 32 --lr 1e-3 --context 10 \
    --seed 1 --out $TK1/bank
sizeless bench init "${MIXED2000[@]}" --data minari:sizeless/halfcheetah/medium-expert-v0 --sizes 48x3,32x4,64x2,64x4 \
    --eval-steps 10,20,50,100 --methods templates --bank $TK1/bank --out $TK1 --compare-with $P
# 11. Without the fit (the template policy at its swept LR from step 0), on the held-out body: is the fit's low LR
#     what slows templates, or what starts them? (It starts them: benchmarks/NOTES.md, "#12's 3x sooner")
sizeless bench init "${MIXED2000[@]}" "${SAMPLED[@]}" --fit-steps 0 --data minari:sizeless/halfcheetah/medium-expert-v0 \
    --sizes 48x3,32x4,64x2,64x4 --eval-steps 10,20,50,100 --methods templates \
    --out benchmarks/control/bench-halfcheetah-medexp-heldout-sampled-nofit
