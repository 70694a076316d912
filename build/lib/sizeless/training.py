"""One training loop for every stage: pre-training, scaler fitting, training a plain model.

Exactly resumable: data order is a function of (seed, epoch), augmentation of (seed, step),
and the checkpoint holds model, optimizer, RNG state, the step and the running epoch sums, so an
interrupted run that resumes ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from . import distributed as dist
from .data import Split, TrainData
from .errors import Diverged, SizelessError
from .files import flatten_state, load_tensors_and_metadata, save_tensors, unflatten_state, write_csv
from .objectives import Forward, Supervised
from .plotting import plot_history

CHECKPOINT = "checkpoint.safetensors"  # one file: tensors + the JSON state in its metadata, replaced atomically
_NO_DECAY = ("scalers", "token", "pos_embed", "bias", "norm")


@dataclass
class TrainConfig:
    """Optimization settings shared by every stage (AdamW, linear warm-up, cosine decay)."""

    epochs: int = 10
    steps: int | None = None  # a fixed number of steps instead of epochs (e.g. scaler fitting)
    # steps of an epochs budget already spent elsewhere (a template fit counted inside the target budget): the
    # run takes the rest and validates at the budget's own epoch boundaries
    spent_steps: int = 0
    batch_size: int = 128
    lr: float = 1e-3
    min_lr: float = 1e-5
    warmup: float = 0.1  # fraction of all steps
    weight_decay: float = 0.05
    grad_clip: float | None = 1.0
    label_smoothing: float = 0.0
    augment: bool | None = None  # None: the dataset's default
    seed: int = 0
    checkpoint_every: int = 500  # steps; also at the end, and at an epoch's end a minute after the last one
    eval_every: int | None = None  # validate every this many steps too (e.g. a curve for a run counted in steps)
    eval_batch_size: int = 512

    def __post_init__(self) -> None:
        checks = {
            "epochs must be at least 1": self.epochs >= 1,
            "batch size must be at least 1": self.batch_size >= 1 and self.eval_batch_size >= 1,
            "steps must be zero or more": self.steps is None or self.steps >= 0,
            "spent steps must be zero or more, with an epochs budget": self.spent_steps >= 0
            and (self.steps is None or not self.spent_steps),
            "warm-up is a fraction of the steps, between 0 and 1": 0 <= self.warmup <= 1,
            "checkpoint interval must be at least 1 step": self.checkpoint_every >= 1,
            "evaluation interval must be at least 1 step": self.eval_every is None or self.eval_every >= 1,
            "learning rates must be positive": self.lr > 0 and self.min_lr >= 0 and math.isfinite(self.lr),
            "weight decay must be a finite number >= 0": 0 <= self.weight_decay < math.inf,
        }
        bad = [message for message, ok in checks.items() if not ok]
        if bad:
            raise SizelessError(f"bad training settings: {'; '.join(bad)}")

    def augments(self, data: TrainData, objective=None) -> bool:
        """Whether to augment: as told, else as the objective wants (diffusion: never), else the data's default."""
        return getattr(objective, "default_augment", data.augment) if self.augment is None else self.augment

    def lr_at(self, step: int, total: int) -> float:
        warmup = int(self.warmup * total)
        if step < warmup:
            return self.lr * (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return self.min_lr + 0.5 * (self.lr - self.min_lr) * (1 + math.cos(math.pi * progress))


def param_groups(module: nn.Module, params: Iterable[nn.Parameter], weight_decay: float) -> list[dict]:
    """Decay matrices only: no decay on scalers, biases, norms, tokens and position embeddings."""
    wanted = {id(p) for p in params}
    decay, no_decay = [], []
    for name, p in module.named_parameters():
        if id(p) not in wanted or not p.requires_grad:
            continue
        skip = p.ndim < 2 or getattr(p, "no_weight_decay", False) or any(tag in name for tag in _NO_DECAY)
        (no_decay if skip else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def classification_score(forward: Forward, images: Tensor, labels: Tensor) -> dict[str, float]:
    """Validation sums over a batch: cross-entropy and correct predictions."""
    logits = forward(images).float()
    return {"loss": torch.nn.functional.cross_entropy(logits, labels, reduction="sum").item(),
            "acc": (logits.argmax(-1) == labels).sum().item()}


@torch.no_grad()
def evaluate(forward: Forward, module: nn.Module, data: TrainData, split: Split | None = None,
             batch_size: int = 512, objective=None) -> dict[str, float]:
    """Mean validation metrics (loss and accuracy, or the objective's own ``score``), sharded over ranks;
    an objective with ``evaluate_split`` computes its metrics over the whole split itself (every rank)."""
    split = split if split is not None else data.val
    score = getattr(objective, "score", classification_score)
    device = next(module.parameters()).device
    was_training = module.training
    module.eval()
    whole = getattr(objective, "evaluate_split", None)
    if whole is not None:  # metrics that do not decompose into batch sums (mean IoU, mAP): the objective's own pass
        try:
            return whole(forward, data, split, batch_size, device)
        finally:
            module.train(was_training)
    shard = torch.arange(dist.rank(), len(split), dist.world_size())
    batches = [shard[start:start + batch_size] for start in range(0, len(shard), batch_size)] or [shard[:0]]
    totals = None
    for idx in batches:
        # an empty shard (fewer images than ranks) still learns the metric names, weighted by 0
        part = idx if len(idx) else torch.arange(min(1, len(split)))
        inputs, targets = data.batch(split, part)
        sums = score(forward, to_device(inputs, device), to_device(targets, device))
        names = list(sums)
        batch = torch.tensor([sums[k] for k in names] + [len(part)], dtype=torch.float64) * (len(idx) > 0)
        totals = batch if totals is None else totals + batch
    module.train(was_training)
    dist.all_sum(totals)
    count = max(1.0, totals[-1].item())
    return {k: totals[i].item() / count for i, k in enumerate(names)}


def seeded_generator(*keys: int) -> torch.Generator:
    seed = 0
    for k in keys:
        seed = (seed * 1_000_003 + int(k)) % (2**63 - 1)
    return torch.Generator().manual_seed(seed)


def take(batch, index: Tensor):
    """Rows ``index`` of a batch: a tensor, or a dict / list / tuple of them (one rank's share)."""
    if isinstance(batch, Tensor):
        return batch[index]
    if isinstance(batch, dict):
        return {k: take(v, index) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):  # per-sample items (e.g. detection targets)
        return [batch[i] for i in index.tolist()]
    raise TypeError(f"cannot index a batch of type {type(batch).__name__}")


def to_device(batch, device: torch.device):
    """A batch (tensors, nested in dicts / lists / tuples) on ``device``."""
    if isinstance(batch, Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


@dataclass
class TrainResult:
    history: list[dict]
    completed: bool  # False when stopped early by ``stop_at_step``
    steps_run: int = 0  # steps taken by this call (0: a finished run was resumed)


def fit(
    module: nn.Module,
    data: TrainData,
    config: TrainConfig,
    *,
    objective: Callable | None = None,
    params: Iterable[nn.Parameter] | None = None,
    forward_at: Callable[[int], Forward] | None = None,
    evaluators: dict[str, Forward] | None = None,
    out_dir: str | Path | None = None,
    resume: bool = False,
    desc: str = "train",
    stop_at_step: int | None = None,
    after_step: Callable[[], None] | None = None,
) -> TrainResult:
    """Train ``module`` on ``data.train``, evaluating on ``data.val`` after every epoch.

    ``forward_at(step)`` picks the forward function of a step (multi-size pre-training draws a
    size per step); ``evaluators`` names the forwards to validate (one column each).
    ``out_dir`` receives ``metrics.csv``, ``curve.png`` and the resumable checkpoint. ``after_step()`` runs after
    every optimizer step (a projected step: a template bank's ramp scalers).
    """
    device = dist.setup()
    module.to(device)
    dist.broadcast_parameters(module)
    objective = objective or Supervised(config.label_smoothing)
    forward_at = forward_at or (lambda step: module)
    evaluators = evaluators or {"": module}
    with_acc = getattr(objective, "reports_accuracy", True)
    trainable = [p for p in (params if params is not None else module.parameters()) if p.requires_grad]
    if not trainable:
        raise SizelessError("nothing to train: every parameter is frozen")
    optimizer = torch.optim.AdamW(param_groups(module, trainable, config.weight_decay), lr=config.lr)
    n, batch = len(data.train), config.batch_size
    if n == 0:
        raise SizelessError(f"the training split of {data.name} is empty")
    steps_per_epoch = max(1, n // batch)
    total = config.steps if config.steps is not None else config.epochs * steps_per_epoch - config.spent_steps
    if total < 1 and config.steps is None:
        raise SizelessError(f"{desc}: the budget of {config.epochs} epochs ({config.epochs * steps_per_epoch} steps) "
                            f"is spent before training starts ({config.spent_steps} steps); give more epochs")
    augment = config.augments(data, objective)
    out = Path(out_dir) if out_dir else None
    fingerprint = _fingerprint(module, data)

    step, history, sums, elapsed = 0, [], torch.zeros(3, dtype=torch.float64), (0.0, 0.0)
    if out and (out / CHECKPOINT).exists():
        if not resume:
            raise SizelessError(
                f"{out} already holds a run's checkpoint; pass --resume to continue it, or choose another --out"
            )
        step, history, sums, elapsed = _load_checkpoint(out, module, optimizer, config, fingerprint)
        if dist.is_main():
            tqdm.write(f"resuming {desc} from step {step}/{total}")

    module.train()
    bar = tqdm(total=total, initial=step, desc=desc, disable=not dist.is_main(), dynamic_ncols=True, mininterval=0.5)
    started, last_save, first_step = time.perf_counter() - elapsed[0], time.perf_counter(), step
    started_cpu = time.process_time() - elapsed[1]  # CPU seconds of every thread: shows whether the cores were ours
    splits = {"val": data.val, **({"test": data.test} if getattr(data, "test", None) is not None else {})}
    perm_epoch, perm = -1, None
    while step < total:
        epoch, index = divmod(step, steps_per_epoch)
        if epoch != perm_epoch:
            perm, perm_epoch = torch.randperm(n, generator=seeded_generator(config.seed, epoch)), epoch
        idx = perm[index * batch:(index + 1) * batch]
        inputs, targets = data.batch(data.train, idx, seeded_generator(config.seed, 7919, step) if augment else None)
        local = torch.arange(dist.rank(), len(idx), dist.world_size())
        x, y = to_device(take(inputs, local), device), to_device(take(targets, local), device)

        lr = config.lr_at(step, total)
        for group in optimizer.param_groups:
            group["lr"] = lr
        loss, stats = objective(forward_at(step), x, y, indices=idx[local])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        dist.reduce_gradients(trainable, len(local) / len(idx))
        norm = torch.nn.utils.clip_grad_norm_(trainable, config.grad_clip or float("inf"))
        if not torch.isfinite(norm):
            where = f" (the last checkpoint in {out} is intact)" if out else ""
            raise Diverged(
                f"{desc}: loss became {loss.item():.4g} (non-finite gradients) at step {step}, lr {lr:.3g}; "
                f"start again in a new --out with a lower learning rate or a longer warm-up{where}"
            )
        optimizer.step()
        if after_step is not None:
            after_step()
        step += 1
        sums += torch.tensor([loss.item() * len(local), stats.get("correct", 0.0), len(local)], dtype=torch.float64)
        bar.update(1)
        acc = {"acc": f"{100 * sums[1].item() / max(1.0, sums[2].item()):.1f}%"} if with_acc else {}
        bar.set_postfix(loss=f"{loss.item():.3f}", **acc, lr=f"{lr:.2e}", refresh=False)

        # steps mode (scaler fitting) validates once, at the end; epochs mode after every epoch
        epoch_done = step == total or (config.steps is None and (step + config.spent_steps) % steps_per_epoch == 0) \
            or (config.eval_every is not None and step % config.eval_every == 0)
        if epoch_done:
            row = _epoch_row(step + config.spent_steps, steps_per_epoch, lr, dist.all_sum(sums.clone()),
                             (time.perf_counter() - started, time.process_time() - started_cpu), with_acc)
            for name, forward in evaluators.items():
                suffix = f"[{name}]" if name else ""
                for split_name, split in splits.items():
                    if split_name == "test" and step < total and getattr(objective, "test_at_end", False):
                        continue  # whole-split metrics over a large test split: scored once, at the end
                    metrics = evaluate(forward, module, data, split, batch_size=config.eval_batch_size,
                                       objective=objective)
                    row.update({f"{split_name}_{metric}{suffix}": value for metric, value in metrics.items()})
            history.append(row)
            sums.zero_()
            if dist.is_main():
                bar.write(_format_row(row, desc, getattr(objective, "primary_metric", None),
                                      by_step=config.steps is not None))
                if out:
                    _write_metrics(out, history, desc, getattr(objective, "primary_metric", None))
        stopping = stop_at_step is not None and step >= stop_at_step and step < total
        due = step == total or stopping or step % config.checkpoint_every == 0
        if out and not due and epoch_done:  # a minute since the last save: rank 0's clock decides for all
            late = dist.is_main() and time.perf_counter() - last_save > 60
            due = dist.all_sum(torch.tensor([float(late)])).item() > 0
        if out and due:
            _save_checkpoint(out, module, optimizer, config, step, history, sums,
                             (time.perf_counter() - started, time.process_time() - started_cpu), fingerprint)
            last_save = time.perf_counter()
        if stopping:
            bar.close()
            return TrainResult(history, completed=False, steps_run=step - first_step)
    bar.close()
    return TrainResult(history, completed=True, steps_run=step - first_step)


def _epoch_row(step: int, steps_per_epoch: int, lr: float, sums: Tensor, seconds: tuple[float, float],
               with_acc: bool) -> dict:
    count = max(1.0, sums[2].item())
    row = {"epoch": round(step / steps_per_epoch, 4), "step": step, "lr": lr, "train_loss": sums[0].item() / count}
    if with_acc:
        row["train_acc"] = sums[1].item() / count
    # threads: what the wall time may be judged against (a report tells a shared CPU by cpu < wall x threads)
    return row | {"seconds": round(seconds[0], 2), "cpu_seconds": round(seconds[1], 2),
                  "threads": torch.get_num_threads()}


def _format_row(row: dict, desc: str, primary: str | None = None, by_step: bool = False) -> str:
    """One log line; a run counted in steps (scaler fitting) says its step, not a fraction of an epoch."""
    key = f"val_{primary or 'acc'}"
    vals = "  ".join(f"{k} {100 * v:.2f}%" for k, v in row.items() if k == key or k.startswith(f"{key}[")) or \
        "  ".join(f"{k} {v:.4f}" for k, v in row.items() if k.startswith("val_loss"))
    where = f"step {row['step']}" if by_step else f"epoch {row['epoch']:g}"
    return f"{desc} {where}: train loss {row['train_loss']:.4f}  {vals}"


def _write_metrics(out: Path, history: list[dict], title: str, primary: str | None = None) -> None:
    write_csv(out / "metrics.csv", history)
    plot_history(history, out / "curve.png", title, primary)


def _fingerprint(module: nn.Module, data: TrainData) -> dict:
    """What a checkpoint must match to be resumed: the data, the parameter shapes, frozen weights."""
    shapes = ";".join(f"{k}:{tuple(v.shape)}" for k, v in module.state_dict().items())
    frozen = sum(float(p.detach().double().abs().sum()) for p in module.parameters() if not p.requires_grad)
    return {
        "data": data.fingerprint(),
        "model": hashlib.sha1(shapes.encode()).hexdigest()[:16],
        "frozen": f"{frozen:.10g}",
    }


def _save_checkpoint(out: Path, module, optimizer, config, step, history, sums, elapsed, fingerprint) -> None:
    totals = dist.all_sum(sums.clone())  # every rank's partial epoch, so any world size resumes it
    if dist.is_main():
        skeleton, opt_tensors = flatten_state(optimizer.state_dict(), "optimizer")
        tensors = {f"model.{k}": v for k, v in module.state_dict().items()}
        tensors.update(opt_tensors)
        tensors["rng.torch"] = torch.get_rng_state()
        if torch.cuda.is_available():
            tensors["rng.cuda"] = torch.cuda.get_rng_state()
        tensors["epoch_sums"] = totals
        state = {"step": step, "elapsed": elapsed[0], "cpu_elapsed": elapsed[1], "config": asdict(config),
                 "fingerprint": fingerprint, "optimizer": skeleton, "history": history}
        save_tensors(out / CHECKPOINT, tensors, metadata={"sizeless_state": json.dumps(state)})
    dist.barrier()


def _load_checkpoint(out: Path, module, optimizer, config: TrainConfig, fingerprint: dict):
    tensors, metadata = load_tensors_and_metadata(out / CHECKPOINT, "checkpoint")
    if "sizeless_state" not in metadata:
        raise SizelessError(f"{out / CHECKPOINT} is not a sizeless checkpoint; choose another --out")
    state = json.loads(metadata["sizeless_state"])
    saved = {k: v for k, v in state["config"].items() if k not in ("checkpoint_every", "eval_batch_size", "eval_every")}
    current = {k: v for k, v in asdict(config).items() if k in saved}
    if saved != current:
        changed = ", ".join(f"{k}: {saved[k]} -> {current[k]}" for k in saved if saved[k] != current[k])
        raise SizelessError(f"cannot resume {out}: the settings changed ({changed}); use the original flags")
    if state["fingerprint"] != fingerprint:
        what = [k for k in fingerprint if state["fingerprint"].get(k) != fingerprint[k]]
        raise SizelessError(
            f"the checkpoint in {out} was made with another {' and '.join(what)} (data, model shape or frozen "
            "templates); choose another --out, or delete that folder to start over"
        )
    model_state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    try:
        module.load_state_dict(model_state, strict=True)
        optimizer.load_state_dict(unflatten_state(state["optimizer"], tensors))
    except (RuntimeError, ValueError, KeyError) as err:
        raise SizelessError(
            f"the checkpoint in {out} belongs to another model ({str(err).splitlines()[0][:120]}); "
            "choose another --out, or delete that folder to start over"
        ) from None
    torch.set_rng_state(tensors["rng.torch"])
    if "rng.cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng.cuda"])
    sums = tensors["epoch_sums"] if dist.is_main() else torch.zeros_like(tensors["epoch_sums"])
    return state["step"], state["history"], sums, (state["elapsed"], state.get("cpu_elapsed", 0.0))
