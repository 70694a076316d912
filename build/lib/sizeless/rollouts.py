"""Roll a Decision Transformer policy out in the simulator and score it.

All episodes run in lockstep (one environment per episode, seeded ``seed + i``), so every step is
one batched forward over the episodes still running: 10 episodes cost about one episode's
forwards. The policy sees its last K steps of (return-to-go, normalized state, action), starting
from ``target_return`` and subtracting each reward, and acts with its last action prediction
(deterministic). The score is normalized D4RL-style: ``100 * (R - R_random) / (R_expert - R_random)``
with the reference returns of the data the policy was made from.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .errors import SizelessError
from .families.decision_transformer import require


def make_envs(env_id: str, count: int) -> list:
    """``count`` environments, or one clear line for an id gymnasium does not know."""
    gym = require("gymnasium")
    try:
        return [gym.make(env_id) for _ in range(count)]
    except gym.error.Error as err:
        raise SizelessError(f"unknown environment {env_id!r} ({err}); pass a gymnasium id such as Hopper-v5, "
                            "HalfCheetah-v5 or Walker2d-v5") from None
    except (ImportError, ModuleNotFoundError) as err:
        raise SizelessError(f"{env_id} needs the MuJoCo simulator ({err}): pip install 'sizeless[control]'") from None


def normalized_score(value: float, task: dict) -> float | None:
    low, high = task.get("ref_min_score"), task.get("ref_max_score")
    if low is None or high is None or high == low:
        return None
    return 100.0 * (value - low) / (high - low)


@torch.no_grad()
def rollout(model: nn.Module, task: dict, env_id: str, episodes: int = 10, target_return: float | None = None,
            seed: int = 0, progress: bool = True) -> dict:
    """Mean/std return and normalized score of ``episodes`` deterministic episodes of ``model`` on ``env_id``."""
    target = task.get("ref_max_score") if target_return is None else target_return
    if target is None or not math.isfinite(float(target)):
        raise SizelessError(f"the return target must be a finite number, not {target}; pass --target-return R "
                            "(e.g. the expert's return)")
    if episodes < 1:
        raise SizelessError("--episodes must be at least 1")
    envs = make_envs(env_id, episodes)
    cfg = model.config
    obs_dim, act_dim = envs[0].observation_space.shape[0], envs[0].action_space.shape[0]
    if (obs_dim, act_dim) != (cfg.state_dim, cfg.act_dim):
        raise SizelessError(f"{env_id} has states of size {obs_dim} and actions of size {act_dim} but the policy takes "
                            f"{cfg.state_dim} and {cfg.act_dim}; initialize a policy for {env_id} from a bank "
                            "(`sizeless init --bank BANK --data minari:DATASET_OF_THAT_TASK ...`)")
    context, scale = cfg.n_positions // 3, float(task.get("return_scale", 1000.0))
    mean = torch.tensor(task["state_mean"], dtype=torch.float32)
    std = torch.tensor(task["state_std"], dtype=torch.float32)
    low, high = (np.asarray(task[k], np.float32) if task.get(k) is not None else None
                 for k in ("action_low", "action_high"))
    horizon = envs[0].spec.max_episode_steps or cfg.max_ep_len
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()

    states = torch.zeros(episodes, horizon + 1, obs_dim)
    actions = torch.zeros(episodes, horizon + 1, act_dim)
    rtg = torch.zeros(episodes, horizon + 1)
    for i, env in enumerate(envs):
        obs, _ = env.reset(seed=seed + i)
        states[i, 0] = torch.as_tensor(obs, dtype=torch.float32)
    rtg[:, 0] = float(target) / scale
    totals, lengths = np.zeros(episodes), np.zeros(episodes, dtype=np.int64)
    running = np.ones(episodes, dtype=bool)
    bar = tqdm(total=horizon, desc=f"rollout {env_id}", disable=not progress, dynamic_ncols=True, mininterval=0.5)
    for t in range(horizon):
        live = np.flatnonzero(running)
        if not len(live):
            break
        first = max(0, t + 1 - context)
        window = slice(first, t + 1)
        pad = context - (t + 1 - first)
        idx = torch.from_numpy(live)

        def left_pad(x: torch.Tensor, pad=pad) -> torch.Tensor:
            return torch.cat([x.new_zeros(x.shape[0], pad, *x.shape[2:]), x], 1)

        steps = torch.arange(first, t + 1).clamp(max=cfg.max_ep_len - 1).expand(len(live), -1)
        inputs = {
            "states": left_pad((states[idx, window] - mean) / std),
            "actions": left_pad(actions[idx, window]),
            "returns_to_go": left_pad(rtg[idx, window][..., None]),
            "timesteps": left_pad(steps),
            "attention_mask": left_pad(torch.ones(len(live), t + 1 - first, dtype=torch.long)),
        }
        out = model(**{k: v.to(device) for k, v in inputs.items()})
        act = out.action_preds[:, -1].float().cpu()
        for row, i in enumerate(live):
            action = act[row].numpy()
            if low is not None:  # the policy acts in [-1, 1]; the data were scaled from the env's bounds
                action = low + (action + 1) * 0.5 * (high - low)
            obs, reward, terminated, truncated, _ = envs[i].step(action)
            actions[i, t] = act[row]
            states[i, t + 1] = torch.as_tensor(obs, dtype=torch.float32)
            rtg[i, t + 1] = rtg[i, t] - float(reward) / scale
            totals[i] += float(reward)
            lengths[i] += 1
            if terminated or truncated:
                running[i] = False
        bar.update(1)
    bar.close()
    for env in envs:
        env.close()
    model.train(was_training)
    mean_return = float(totals.mean())
    score = normalized_score(mean_return, task)
    scores = [normalized_score(float(r), task) for r in totals]
    return {"env": env_id, "episodes": episodes, "target_return": float(target), "seed": seed,
            "return_mean": mean_return, "return_std": float(totals.std()), "length_mean": float(lengths.mean()),
            "normalized_score": score,
            "normalized_std": float(np.std(scores)) if score is not None else None,
            "returns": totals.tolist()}
