"""Direct pre-training: train the exact target size on the source data with a given budget.

The "pre-train every size" alternative: n sizes cost n pre-training runs. The head is kept only
when source and target have the same label space (same classes, same order) and is new otherwise.
"""

from __future__ import annotations

from dataclasses import replace

import torch

from ..data import TrainData
from ..errors import SizelessError
from ..families import carries_task_parts, get_family
from ..objectives import default_objective
from ..training import fit
from .base import Initialized, InitOptions, recommended_finetune
from .scratch import scratch


def keeps_task_parts(family, source: TrainData, data: TrainData) -> bool:
    """Whether a model pre-trained on ``source`` keeps its task-specific part for ``data``: the family's carry rule,
    and for a family that rebuilds its task parts (a policy) the same input too."""
    if getattr(family, "retask", None) is None:
        return carries_task_parts(family, source.labels, data.labels)
    own, target = family.input_spec(source), family.input_spec(data)
    return own == target and carries_task_parts(family, source.labels, data.labels, own, target)


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
    family = get_family(init.meta["family"])
    record = options.bank.config if options.bank is not None else None  # a bank's noise schedule (dit)
    result = fit(init.model, source, budget, objective=default_objective(family, source, budget, record),
                 out_dir=options.log_dir, resume=True, desc=f"direct {init.meta['size']}")
    model = init.model.cpu()
    if not keeps_task_parts(family, source, data):
        retask = getattr(family, "retask", None)  # a policy: new state/action embeddings and heads
        if retask is not None:
            target = family.input_spec(data)
            init.model = retask(model, family.parse_size(size), target)
            init.model_args = family.model_args(family.parse_size(size), target)[1]
        else:  # a head (a generator's labels) trained on other classes is none for these
            with torch.random.fork_rng(devices=[]):  # a new head from the target seed, the caller's stream untouched
                torch.manual_seed(options.seed)
                family.reset_classes(model, data.num_classes)
            if "num_classes" in init.model_args:
                init.model_args["num_classes"] = data.num_classes
    last = result.history[-1] if result.history else {"step": 0, "seconds": 0.0}
    recipe = recommended_finetune(family, narrower=False, source_labels=source.labels, target_labels=data.labels)
    init.meta.update(method="direct", recommended=recipe, pretrain_steps=last["step"],
                     pretrain_images=last["step"] * budget.batch_size, pretrain_seconds=last["seconds"],
                     pretrain_cpu_seconds=last.get("cpu_seconds"), pretrain_threads=last.get("threads"))
    return init
