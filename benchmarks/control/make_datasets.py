"""Offline control data made here: PPO experts on gymnasium MuJoCo, recorded as local Minari datasets.

No dataset can be downloaded on this machine, so the project makes its own, D4RL-style: for every
environment, stable-baselines3 PPO with the RL Zoo's published hyper-parameters (``normalize:
true``, ``n_envs: 1``; see ``ZOO`` below) trains an expert, saving a snapshot and a 5-episode
deterministic evaluation every ``--snapshot-every`` steps. The best snapshot is the expert; the
snapshot whose return is closest to a third of the expert's (earlier or later) is "medium". Each of them records
``--dataset-steps`` environment steps with its stochastic policy into a Minari dataset
``sizeless/<env>/<level>-v0`` whose ``ref_min_score`` (uniform random actions) and
``ref_max_score`` (the expert, deterministic) are the normalization of every score. The two together
are ``sizeless/<env>/medium-expert-v0``, D4RL's mixed-quality dataset.

Why PPO: measured on this 2-core CPU, one PPO step with the HalfCheetah settings costs 2.3 ms of
CPU and one SAC step 13.6 ms (``--measure``), so a PPO expert costs about a sixth of a SAC one.

Everything is cached under ``--work`` (snapshots as safetensors, nothing pickled) and resumes after
an interruption; the Minari store is ``--store`` (``MINARI_DATASETS_PATH`` for every reader).

    OMP_NUM_THREADS=1 python benchmarks/control/make_datasets.py --store runs/minari --steps 300000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from common import provenance

from sizeless.files import flatten_state, load_tensors_and_metadata, save_tensors, unflatten_state, write_json

ENVS = ("HalfCheetah-v5", "Hopper-v5", "Walker2d-v5")
_BIG = dict(log_std_init=-2, ortho_init=False, activation_fn=nn.ReLU, net_arch=dict(pi=[256, 256], vf=[256, 256]))
# rl-baselines3-zoo hyperparams/ppo.yml (the MuJoCo v3/v4 entries; v5 has the same dynamics)
ZOO = {
    "HalfCheetah": dict(batch_size=64, n_steps=512, gamma=0.98, learning_rate=2.0633e-05, ent_coef=0.000401762,
                        clip_range=0.1, n_epochs=20, gae_lambda=0.92, max_grad_norm=0.8, vf_coef=0.58096,
                        policy_kwargs=_BIG),
    "Hopper": dict(batch_size=32, n_steps=512, gamma=0.999, learning_rate=9.80828e-05, ent_coef=0.00229519,
                   clip_range=0.2, n_epochs=5, gae_lambda=0.99, max_grad_norm=0.7, vf_coef=0.835671,
                   policy_kwargs=_BIG),
    "Walker2d": dict(batch_size=32, n_steps=512, gamma=0.99, learning_rate=5.05041e-05, ent_coef=0.000585045,
                     clip_range=0.1, n_epochs=20, gae_lambda=0.95, max_grad_norm=1.0, vf_coef=0.871923),
}
ZOO_STEPS = 1_000_000


def dataset_id(env_id: str, level: str) -> str:
    return f"sizeless/{env_id.split('-')[0].lower()}/{level}-v0"


class Expert:
    """A PPO agent with observation normalization, snapshotted as safetensors (policy, optimizer, statistics)."""

    def __init__(self, env_id: str, seed: int):
        from stable_baselines3 import PPO
        from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

        self.env_id = env_id
        params = ZOO[env_id.split("-")[0]]
        venv = DummyVecEnv([lambda: gym.make(env_id)])
        venv.seed(seed)
        self.venv = VecNormalize(venv, gamma=params["gamma"])
        self.model = PPO("MlpPolicy", self.venv, seed=seed, device="cpu", verbose=0, **params)

    def state(self) -> dict:
        norm = self.venv
        return {"policy": self.model.policy.state_dict(), "optimizer": self.model.policy.optimizer.state_dict(),
                "obs_mean": torch.as_tensor(norm.obs_rms.mean), "obs_var": torch.as_tensor(norm.obs_rms.var),
                "obs_count": torch.tensor(norm.obs_rms.count), "ret_mean": torch.as_tensor(norm.ret_rms.mean),
                "ret_var": torch.as_tensor(norm.ret_rms.var), "ret_count": torch.tensor(norm.ret_rms.count)}

    def save(self, path: Path, meta: dict) -> None:
        skeleton, tensors = flatten_state(self.state(), "expert")
        save_tensors(path, tensors, metadata={"skeleton": json.dumps(skeleton), "meta": json.dumps(meta)})

    def load(self, path: Path) -> dict:
        tensors, metadata = load_tensors_and_metadata(path, "expert snapshot")
        state = unflatten_state(json.loads(metadata["skeleton"]), tensors)
        self.model.policy.load_state_dict(state["policy"])
        self.model.policy.optimizer.load_state_dict(state["optimizer"])
        norm = self.venv
        norm.obs_rms.mean, norm.obs_rms.var = state["obs_mean"].numpy(), state["obs_var"].numpy()
        norm.obs_rms.count = float(state["obs_count"])
        norm.ret_rms.mean, norm.ret_rms.var = state["ret_mean"].numpy(), state["ret_var"].numpy()
        norm.ret_rms.count = float(state["ret_count"])
        return json.loads(metadata["meta"])

    def act(self, obs: np.ndarray, deterministic: bool) -> np.ndarray:
        action, _ = self.model.predict(self.venv.normalize_obs(obs), deterministic=deterministic)
        return action


def rollout_returns(env_id: str, policy, episodes: int, seed: int) -> list[float]:
    env = gym.make(env_id)
    out = []
    for ep in range(episodes):
        obs, _ = env.reset(seed=seed + ep)
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(policy(obs))
            total += float(reward)
            done = terminated or truncated
        out.append(total)
    env.close()
    return out


def train_expert(env_id: str, steps: int, every: int, work: Path, seed: int) -> dict:
    """Train (or resume) one expert; returns its record with every snapshot's evaluation."""
    folder = work / env_id
    folder.mkdir(parents=True, exist_ok=True)
    record_path = folder / "record.json"
    zoo = {k: str(v) for k, v in ZOO[env_id.split("-")[0]].items()}
    record = json.loads(record_path.read_text()) if record_path.exists() else \
        {"env": env_id, "algorithm": "PPO", "hyperparameters": zoo, "seed": seed, "snapshots": [], "cpu_seconds": 0.0,
         "wall_seconds": 0.0}
    expert = Expert(env_id, seed)
    if record["snapshots"]:
        expert.load(folder / record["snapshots"][-1]["file"])
        expert.model.num_timesteps = record["snapshots"][-1]["steps"]
    while expert.model.num_timesteps < steps:
        cpu, wall = time.process_time(), time.perf_counter()
        expert.model.learn(min(every, steps - expert.model.num_timesteps), reset_num_timesteps=False)
        returns = rollout_returns(env_id, lambda o: expert.act(o, True), 5, seed=10_000)
        record["cpu_seconds"] += time.process_time() - cpu
        record["wall_seconds"] += time.perf_counter() - wall
        snap = {"steps": int(expert.model.num_timesteps), "return": float(np.mean(returns)),
                "file": f"snapshot-{expert.model.num_timesteps:08d}.safetensors"}
        expert.save(folder / snap["file"], snap)
        record["snapshots"].append(snap)
        write_json(record_path, record)
        print(f"{env_id}: {snap['steps']:,} steps, return {snap['return']:.1f}, "
              f"cpu {record['cpu_seconds'] / 60:.1f} min", flush=True)
    return record


def record_dataset(env_id: str, level: str, snapshot: Path, steps: int, seed: int, refs: tuple[float, float]) -> dict:
    """Run a snapshot's stochastic policy for ``steps`` steps (whole episodes) into a Minari dataset."""
    import minari
    from minari import DataCollector

    ident = dataset_id(env_id, level)
    if ident in minari.list_local_datasets():
        data = minari.load_dataset(ident)
        return {"id": ident, "episodes": data.total_episodes, "steps": data.total_steps, "cached": True}
    expert = Expert(env_id, seed)
    meta = expert.load(snapshot)
    env = DataCollector(gym.make(env_id))
    taken, episode = 0, 0
    while taken < steps:
        obs, _ = env.reset(seed=seed + episode)
        done = False
        while not done:
            obs, _, terminated, truncated, _ = env.step(expert.act(obs, deterministic=False))
            taken += 1
            done = terminated or truncated
        episode += 1
    env.create_dataset(
        dataset_id=ident, eval_env=env_id, algorithm_name=f"stable-baselines3 PPO, RL Zoo hyper-parameters, "
        f"snapshot at {meta['steps']:,} steps", author="sizeless benchmarks/control/make_datasets.py",
        ref_min_score=refs[0], ref_max_score=refs[1],
        description=f"{level} data for {env_id}: {taken:,} steps of a PPO snapshot's stochastic policy "
                    f"(deterministic return {meta['return']:.1f}); reference scores: random policy, expert.")
    env.close()
    return {"id": ident, "episodes": episode, "steps": taken, "cached": False}


def combined_dataset(env_id: str, levels: tuple[str, ...], refs: tuple[float, float]) -> dict:
    """D4RL's mixed-quality dataset (e.g. medium-expert): the levels' episodes in one Minari dataset
    (``minari.combine_datasets``) with their reference scores, so one set of state statistics serves all of them.

    Mixed data is where return conditioning matters: the policy must tell good episodes from weaker ones by their
    returns-to-go, and act like the good ones when asked for the expert's return (the Decision Transformer paper's
    widest margin over behavior cloning is on medium-expert data)."""
    import minari

    ident = dataset_id(env_id, "-".join(levels))
    cached = ident in minari.list_local_datasets()
    if cached:
        data = minari.load_dataset(ident)
    else:
        data = minari.combine_datasets([minari.load_dataset(dataset_id(env_id, level)) for level in levels], ident)
        data.storage.update_metadata({
            "ref_min_score": refs[0], "ref_max_score": refs[1],
            "author": {"sizeless benchmarks/control/make_datasets.py"},
            "description": f"{' + '.join(levels)} data for {env_id}: every episode of "
                           f"{', '.join(dataset_id(env_id, level) for level in levels)}; reference scores: random "
                           "policy, expert."})
    return {"id": ident, "episodes": data.total_episodes, "steps": data.total_steps, "cached": cached}


def measure(env_id: str, steps: int) -> dict:
    """CPU seconds per environment step of PPO (the zoo settings) and SAC (sb3 defaults) on one thread."""
    from stable_baselines3 import SAC

    torch.set_num_threads(1)
    out = {}
    expert = Expert(env_id, 0)
    start = time.process_time()
    expert.model.learn(steps)
    out["ppo_cpu_s_per_step"] = (time.process_time() - start) / steps
    sac = SAC("MlpPolicy", gym.make(env_id), learning_starts=1000, device="cpu", seed=0)
    start = time.process_time()
    sac.learn(steps)
    out["sac_cpu_s_per_step"] = (time.process_time() - start) / steps
    return out


def made_by(meta: dict) -> dict:
    """The part of a run's provenance each expert keeps: which command made it, where and when."""
    return {key: meta.get(key) for key in ("command", "machine", "date")}


def merged_experts(path: Path, results: list[dict]) -> list[dict]:
    """This run's experts, and those of earlier runs (``--envs`` of their own) for the environments it did not
    make, so an expert trained longer for one task keeps the others' records beside it."""
    made = {r["env"] for r in results}
    earlier = json.loads(path.read_text()) if path.exists() else {"meta": {}, "experts": []}
    kept = [{"made_by": made_by(earlier["meta"])} | r
            for r in earlier["experts"] if r["env"] not in made]
    return sorted(kept + results, key=lambda r: ENVS.index(r["env"]) if r["env"] in ENVS else len(ENVS))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, default=Path("runs/minari"), help="local Minari store (root)")
    parser.add_argument("--work", type=Path, default=Path("benchmarks/control/work"), help="expert snapshots")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/control"), help="experts.json / experts.md")
    parser.add_argument("--envs", default=",".join(ENVS))
    parser.add_argument("--steps", type=int, default=ZOO_STEPS, help="PPO steps per expert (the zoo: 1M)")
    parser.add_argument("--snapshot-every", type=int, default=25_000)
    parser.add_argument("--dataset-steps", type=int, default=100_000, help="steps recorded per dataset")
    parser.add_argument("--eval-episodes", type=int, default=10, help="episodes for the reference scores")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--measure", type=int, default=0, help="only time PPO vs SAC for this many steps")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    envs = args.envs.split(",")
    if args.measure:
        print(json.dumps({env: measure(env, args.measure) for env in envs}, indent=2))
        return
    os.environ["MINARI_DATASETS_PATH"] = str(args.store.resolve())
    args.store.mkdir(parents=True, exist_ok=True)
    results = []
    for env_id in envs:
        record = train_expert(env_id, args.steps, args.snapshot_every, args.work, args.seed)
        folder = args.work / env_id
        best = max(record["snapshots"], key=lambda s: s["return"])
        expert = Expert(env_id, args.seed)
        expert.load(folder / best["file"])
        expert_returns = rollout_returns(env_id, lambda o, e=expert: e.act(o, True), args.eval_episodes, 20_000)
        space = gym.make(env_id).action_space
        space.seed(args.seed)
        random_returns = rollout_returns(env_id, lambda o, s=space: s.sample(), args.eval_episodes, 20_000)
        refs = float(np.mean(random_returns)), float(np.mean(expert_returns))
        # any snapshot, earlier or later than the best: PPO's return is not monotone (Hopper jumps from ~10 to
        # ~1000 within 10k steps, and dips back later)
        medium = min(record["snapshots"], key=lambda s: abs(s["return"] - refs[1] / 3))
        # the snapshot is named from the record, so a dataset made by an earlier run (cached) keeps it too
        datasets = {level: {**record_dataset(env_id, level, folder / snap["file"], args.dataset_steps, args.seed,
                                             refs), "snapshot_steps": snap["steps"], "snapshot_return": snap["return"]}
                    for level, snap in (("medium", medium), ("expert", best))}
        datasets["medium-expert"] = combined_dataset(env_id, ("medium", "expert"), refs)
        results.append({"env": env_id, "ppo_steps": record["snapshots"][-1]["steps"], "zoo_steps": ZOO_STEPS,
                        "cpu_minutes": round(record["cpu_seconds"] / 60, 2),
                        "wall_minutes": round(record["wall_seconds"] / 60, 2),
                        "expert_snapshot_steps": best["steps"], "expert_return": refs[1],
                        "expert_return_std": float(np.std(expert_returns)), "random_return": refs[0],
                        "medium_snapshot_steps": medium["steps"], "medium_snapshot_return": medium["return"],
                        "datasets": datasets, "curve": [(s["steps"], s["return"]) for s in record["snapshots"]]})
        print(json.dumps(results[-1] | {"curve": "..."}), flush=True)
    meta = provenance()
    for r in results:
        r["made_by"] = made_by(meta)
    results = merged_experts(args.out / "experts.json", results)
    write_json(args.out / "experts.json", {"meta": meta, "experts": results})
    lines = ["# Experts and datasets (made here)\n",
             "PPO with the RL Zoo's hyper-parameters for the steps in the table (the zoo trains 1M), one CPU "
             f"thread. Returns: mean over {args.eval_episodes} episodes.\n",
             "| env | PPO steps | CPU min | random return | expert return (snapshot) | medium snapshot return | "
             "datasets |", "|---|---:|---:|---:|---:|---:|---|"]
    for r in results:
        ids = ", ".join(f"`{d['id']}` ({d['episodes']} episodes, {d['steps']:,} steps)" for d in r["datasets"].values())
        lines.append(f"| {r['env']} | {r['ppo_steps']:,} | {r['cpu_minutes']:.1f} | {r['random_return']:.1f} | "
                     f"{r['expert_return']:.1f} ± {r['expert_return_std']:.1f} ({r['expert_snapshot_steps']:,}) | "
                     f"{r['medium_snapshot_return']:.1f} ({r['medium_snapshot_steps']:,}) | {ids} |")
    lines += ["", *(f"- {r['env']}: `{r['made_by']['command']}` ({r['made_by']['machine']}, {r['made_by']['date']})"
                    for r in results), ""]
    (args.out / "experts.md").write_text("\n".join(lines))
    shutil.rmtree(args.store / ".tmp", ignore_errors=True)


if __name__ == "__main__":
    main()
