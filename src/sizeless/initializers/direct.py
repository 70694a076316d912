"""Direct pre-training: train the exact target size on the source data with a given budget.

The "pre-train every size" alternative: n sizes cost n pre-training runs. The head is kept only
when source and target have the same label space (same classes, same order) and is new otherwise.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from ..data import TrainData
from ..errors import SizelessError
from ..training import fit
from .base import RECOMMENDED_FINETUNE, Initialized, InitOptions
from .scratch import scratch


def same_label_space(source: TrainData, target: TrainData) -> bool:
    """Whether a head trained on ``source`` predicts ``target``'s classes: same count and the same names in
    order (classes 0-4 and 5-9 of one dataset are five classes each, but not the same five)."""
    if source.num_classes != target.num_classes:
        return False
    names = getattr(source, "class_names", None), getattr(target, "class_names", None)
    return names[0] == names[1] if all(names) else source.name == target.name


def direct(size, data: TrainData, options: InitOptions) -> Initialized:
    """An explicit ``options.pretrain`` budget keeps its own seed (a pre-trained model shared across target
    seeds); the bank's budget, the default, runs at ``options.seed``."""
    source = options.source or data
    budget = options.pretrain
    if budget is None and options.bank is not None:
        budget = replace(options.bank.train_config, seed=options.seed)
    if budget is None:
        raise SizelessError("direct pre-training needs a budget: pass --bank (its budget is reused)")
    init = scratch(size, source, replace(options, seed=budget.seed))
    result = fit(init.model, source, budget, out_dir=options.log_dir, resume=True, desc=f"direct {init.meta['size']}")
    model = init.model.cpu()
    if not same_label_space(source, data):
        with torch.random.fork_rng(devices=[]):  # a new head drawn from the target seed, the caller's stream untouched
            torch.manual_seed(options.seed)
            model.reset_classifier(data.num_classes)
        init.model_args["num_classes"] = data.num_classes
    last = result.history[-1] if result.history else {"step": 0, "seconds": 0.0}
    init.meta.update(method="direct", recommended=dict(RECOMMENDED_FINETUNE), pretrain_steps=last["step"],
                     pretrain_images=last["step"] * budget.batch_size, pretrain_seconds=last["seconds"],
                     pretrain_cpu_seconds=last.get("cpu_seconds"))
    return init
