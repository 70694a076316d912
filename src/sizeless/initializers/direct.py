"""Direct pre-training: train the exact target size on the source data with the bank's budget.

The "pre-train every size" alternative: n sizes cost n pre-training runs. The head is kept when
source and target share their classes and is new otherwise.
"""

from __future__ import annotations

from dataclasses import replace

from ..data import ImageData
from ..errors import SizelessError
from ..families import get_family
from ..objectives import default_objective
from ..training import fit
from .base import RECOMMENDED_FINETUNE, Initialized, InitOptions
from .scratch import scratch


def direct(size, data: ImageData, options: InitOptions) -> Initialized:
    source = options.source or data
    budget = options.pretrain
    if budget is None and options.bank is not None:
        budget = options.bank.train_config
    if budget is None:
        raise SizelessError("direct pre-training needs a budget: pass --bank (its budget is reused)")
    budget = replace(budget, seed=options.seed)
    init = scratch(size, source, options)
    family = get_family(init.meta["family"])
    record = options.bank.config if options.bank is not None else None
    result = fit(init.model, source, budget, objective=default_objective(family, source, budget, record),
                 out_dir=options.log_dir, resume=True, desc=f"direct {init.meta['size']}")
    model = init.model.cpu()
    if source.num_classes != data.num_classes:
        family.reset_classes(model, data.num_classes)
        if "num_classes" in init.model_args:
            init.model_args["num_classes"] = data.num_classes
    last = result.history[-1] if result.history else {"step": 0, "seconds": 0.0}
    init.meta.update(method="direct", recommended=dict(RECOMMENDED_FINETUNE), pretrain_steps=last["step"],
                     pretrain_images=last["step"] * budget.batch_size, pretrain_seconds=last["seconds"])
    return init
