"""Offline trajectories from local Minari datasets (``--data minari:DATASET_ID[,DATASET_ID...]``).

Every timestep of every training episode ends one context window of ``K`` steps (left-padded with
zeros and masked where the episode is shorter), so an "epoch" is one window per timestep and the
loop's permutation, a function of (seed, epoch), fixes which windows a step sees: batches are cut
on the fly from the trajectories, deterministic and resumable without storing windows. States are
normalized per dataset (mean/std over its observations, the Decision Transformer convention),
returns-to-go divided by ``RETURN_SCALE``. Several datasets train one policy (multi-task
pre-training): states and actions are zero-padded to the largest sizes and padded action
dimensions are masked out of the loss.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import Tensor

from .data import DataConfig, fixed_permutation, fixed_subset, label_space
from .errors import SizelessError

PREFIX = "minari:"
RETURN_SCALE = 1000.0  # the Decision Transformer's scale for MuJoCo returns
DEFAULT_CONTEXT = 20
MAX_EP_LEN = 1000  # gymnasium MuJoCo's time limit; longer episodes share the last timestep embedding
VAL_FRACTION, MAX_VAL_WINDOWS = 0.1, 2048


@dataclass
class Windows:
    """A split: the row (timestep) each of its context windows ends at."""

    ends: Tensor

    def __len__(self) -> int:
        return len(self.ends)


@dataclass
class TrajectoryData:
    """Trajectories of one or more tasks as flat tensors, cut into context windows per batch."""

    name: str
    train: Windows
    val: Windows
    states: Tensor  # (rows, state_dim) normalized, zero-padded
    actions: Tensor  # (rows, act_dim) zero-padded
    returns_to_go: Tensor  # (rows,) scaled
    timesteps: Tensor  # (rows,) long
    starts: Tensor  # (rows,) the row its episode starts at
    action_mask: Tensor  # (rows, act_dim) 1 where the row's task has that action dimension
    tasks: list[dict]  # per dataset: id, env, sizes, state statistics, reference scores
    context: int = DEFAULT_CONTEXT
    max_ep_len: int = MAX_EP_LEN
    augment: bool = False
    class_names: list[str] = field(default_factory=list)  # the environments (what a policy's task parts serve)

    @property
    def state_dim(self) -> int:
        return self.states.shape[1]

    @property
    def act_dim(self) -> int:
        return self.actions.shape[1]

    @property
    def labels(self) -> tuple:
        """What the task-specific parts serve: this data's action size and environments (a bank or model
        pre-trained on them carries its embeddings and heads to a target of seen environments)."""
        return label_space(self.act_dim, self.class_names, self.name)

    @property
    def num_classes(self) -> int:
        """Outputs of the task-specific head (the action size), for code written for classifiers."""
        return self.act_dim

    def batch(self, split: Windows, index: Tensor, generator: torch.Generator | None = None) -> tuple[dict, dict]:
        """Decision Transformer inputs and the action targets (with their mask) of windows ``split[index]``."""
        ends = split.ends[index]
        rows = ends[:, None] - self.context + 1 + torch.arange(self.context)
        valid = rows >= self.starts[ends][:, None]
        rows = torch.where(valid, rows, ends[:, None])
        keep = valid[..., None].float()
        actions = self.actions[rows] * keep
        inputs = {"states": self.states[rows] * keep, "actions": actions,
                  "returns_to_go": self.returns_to_go[rows][..., None] * keep,
                  "timesteps": self.timesteps[rows] * valid, "attention_mask": valid.long()}
        return inputs, {"actions": actions, "mask": self.action_mask[rows] * keep}

    def fingerprint(self) -> list:
        return [self.name, len(self.train), len(self.val), self.context, round(float(self.returns_to_go.sum()), 3)]

    def task(self, env_id: str | None = None) -> dict:
        """The record of one task (its env, state statistics, reference scores): the only one, or ``env_id``'s."""
        if env_id is None and len(self.tasks) == 1:
            return self.tasks[0]
        match = [t for t in self.tasks if t["env"] == env_id]
        if not match:
            raise SizelessError(f"{self.name} holds no data for {env_id}; its environments: "
                                f"{', '.join(t['env'] for t in self.tasks)}")
        return match[0]


@contextmanager
def minari_store(root: str | None):
    """Point Minari at a store folder (``--data-dir``) for the duration of a read."""
    if root is None:
        yield
        return
    old = os.environ.get("MINARI_DATASETS_PATH")
    os.environ["MINARI_DATASETS_PATH"] = str(root)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("MINARI_DATASETS_PATH", None)
        else:
            os.environ["MINARI_DATASETS_PATH"] = old


def minari_source(config: DataConfig) -> TrajectoryData | None:
    """``DATA_SOURCES`` entry: ``minari:ID[,ID...]`` read from the local Minari store."""
    if not config.spec.startswith(PREFIX):
        return None
    ids = [i.strip() for i in config.spec[len(PREFIX):].split(",") if i.strip()]
    if not ids:
        raise SizelessError("--data minari: names no dataset; pass minari:DATASET_ID (e.g. minari:sizeless/hopper/"
                            "medium-v0), several separated by commas for multi-task data")
    context = getattr(config, "context", None) or DEFAULT_CONTEXT
    with minari_store(config.data_dir):
        episodes = [read_dataset(i) for i in ids]
    return build(",".join(ids), episodes, context, train_episodes=config.train_subset)


def read_dataset(dataset_id: str) -> tuple[dict, list[tuple[np.ndarray, np.ndarray, np.ndarray]]]:
    """A local Minari dataset's episodes (observations, actions, rewards) and its task record."""
    from .families.decision_transformer import require

    minari = require("minari")
    local = minari.list_local_datasets()
    if dataset_id not in local:
        root = os.environ.get("MINARI_DATASETS_PATH", "~/.minari/datasets")
        have = ", ".join(sorted(local)) or "none"
        raise SizelessError(f"Minari dataset {dataset_id!r} not found in the store {root} (local datasets: {have}); "
                            "make it with benchmarks/control/make_datasets.py, or pass the store with --data-dir")
    dataset = minari.load_dataset(dataset_id)
    shapes = dataset.observation_space.shape, dataset.action_space.shape
    if len(shapes[0] or ()) != 1 or len(shapes[1] or ()) != 1:
        raise SizelessError(f"{dataset_id} has observations {shapes[0]} and actions {shapes[1]}; the Decision "
                            "Transformer takes flat (vector) observations and continuous actions")
    low, high = (np.asarray(b, np.float32) for b in (dataset.action_space.low, dataset.action_space.high))
    bounded = bool(np.all(np.isfinite(low)) and np.all(np.isfinite(high)))
    episodes = []
    for ep in dataset.iterate_episodes():
        steps = len(ep.actions)
        if steps:
            act = np.asarray(ep.actions, np.float32)
            if bounded:  # the policy's tanh head acts in [-1, 1]; rollouts scale back to the env's bounds
                act = 2 * (act - low) / (high - low) - 1
            episodes.append((np.asarray(ep.observations[:steps], np.float32), act, np.asarray(ep.rewards, np.float64)))
    if not episodes:
        raise SizelessError(f"Minari dataset {dataset_id} holds no steps")
    meta = dataset.storage.metadata
    env_spec = dataset.spec.env_spec
    states = np.concatenate([e[0] for e in episodes])
    record = {"id": dataset_id, "env": env_spec.id if env_spec is not None else None,
              "state_dim": shapes[0][0], "act_dim": shapes[1][0], "episodes": len(episodes), "steps": len(states),
              "state_mean": states.mean(0).tolist(), "state_std": (states.std(0) + 1e-6).tolist(),
              "ref_min_score": meta.get("ref_min_score"), "ref_max_score": meta.get("ref_max_score"),
              "return_scale": RETURN_SCALE, "action_low": low.tolist() if bounded else None,
              "action_high": high.tolist() if bounded else None, "max_return": float(max(e[2].sum() for e in episodes))}
    return record, episodes


def build(name: str, datasets: list, context: int, train_episodes: int | None = None) -> TrajectoryData:
    """Flat tensors of every dataset's episodes; a fixed 10% of each dataset's episodes is held out.

    ``train_episodes`` (``--train-subset`` on trajectory data) keeps a fixed subset of the training
    episodes, the few-demonstration setting; the held-out episodes stay the same, so validation
    does not move with it.
    """
    state_dim = max(r["state_dim"] for r, _ in datasets)
    act_dim = max(r["act_dim"] for r, _ in datasets)
    parts: dict[str, list] = {k: [] for k in ("states", "actions", "rtg", "t", "starts", "mask")}
    train_ends, val_ends, row = [], [], 0
    for record, episodes in datasets:
        mean, std = np.asarray(record["state_mean"], np.float32), np.asarray(record["state_std"], np.float32)
        order = fixed_permutation(len(episodes)).tolist()
        held = set(order[:round(len(episodes) * VAL_FRACTION)]) if len(episodes) > 1 else set()
        for i, (obs, act, rew) in enumerate(episodes):
            steps = len(act)
            states = np.zeros((steps, state_dim), np.float32)
            states[:, :obs.shape[1]] = (obs - mean) / std
            actions = np.zeros((steps, act_dim), np.float32)
            actions[:, :act.shape[1]] = act
            mask = np.zeros((steps, act_dim), np.float32)
            mask[:, :act.shape[1]] = 1
            parts["states"].append(states)
            parts["actions"].append(actions)
            parts["rtg"].append((np.cumsum(rew[::-1])[::-1] / RETURN_SCALE).astype(np.float32))
            parts["t"].append(np.minimum(np.arange(steps), MAX_EP_LEN - 1))
            parts["starts"].append(np.full(steps, row))
            parts["mask"].append(mask)
            (val_ends if i in held else train_ends).append(np.arange(row, row + steps))
            row += steps
    val = np.concatenate(val_ends) if val_ends else np.concatenate(train_ends)[-1:]
    train_ends = [train_ends[i] for i in sorted(fixed_subset(train_episodes, len(train_ends)).tolist())]
    if len(val) > MAX_VAL_WINDOWS:  # a fixed, evenly spaced subset keeps validation cheap
        val = val[np.linspace(0, len(val) - 1, MAX_VAL_WINDOWS).round().astype(np.int64)]

    def cat(key: str, dtype) -> Tensor:
        return torch.from_numpy(np.ascontiguousarray(np.concatenate(parts[key]))).to(dtype)

    return TrajectoryData(
        name=f"{PREFIX}{name}", train=Windows(torch.from_numpy(np.concatenate(train_ends))),
        val=Windows(torch.from_numpy(val)), states=cat("states", torch.float32), actions=cat("actions", torch.float32),
        returns_to_go=cat("rtg", torch.float32), timesteps=cat("t", torch.long), starts=cat("starts", torch.long),
        action_mask=cat("mask", torch.float32), tasks=[r for r, _ in datasets], context=context,
        class_names=[r["env"] or r["id"] for r, _ in datasets])
