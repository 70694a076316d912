"""Decision Transformer policies: Minari data made here, templates, export, behavior cloning, rollouts, bad input."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import sys

import pytest
import torch
from huggingface_hub import ModelCard

pytest.importorskip("minari")
transformers = pytest.importorskip("transformers")

from sizeless.api import initialize_full, pretrain, rollout_model, train  # noqa: E402
from sizeless.bank import TemplateBank  # noqa: E402
from sizeless.behavior_cloning import BehaviorCloning  # noqa: E402
from sizeless.budget import count_params  # noqa: E402
from sizeless.constraints import build_constraint, compose_kind  # noqa: E402
from sizeless.data import DataConfig, load_data  # noqa: E402
from sizeless.errors import SizelessError  # noqa: E402
from sizeless.families import example_macs, get_family  # noqa: E402
from sizeless.families.decision_transformer import TaskSpec  # noqa: E402
from sizeless.models import load_model  # noqa: E402
from sizeless.sampling import SizeSampling, size_draws, sub_size  # noqa: E402
from sizeless.templated import TemplateNet  # noqa: E402
from sizeless.training import TrainConfig  # noqa: E402

PENDULUM, REACHER = "test/pendulum-v0", "test/reacher-v0"


def record(store, dataset_id: str, env_id: str, episodes: int, max_steps: int) -> None:
    """A few short random-policy episodes recorded with Minari's DataCollector."""
    import os

    import gymnasium as gym
    from minari import DataCollector

    os.environ["MINARI_DATASETS_PATH"] = str(store)
    env = DataCollector(gym.make(env_id, max_episode_steps=max_steps))
    env.action_space.seed(0)
    for ep in range(episodes):
        env.reset(seed=ep)
        done = False
        while not done:
            _, _, terminated, truncated, _ = env.step(env.action_space.sample())
            done = terminated or truncated
    env.create_dataset(dataset_id, eval_env=env_id, ref_min_score=5.0, ref_max_score=1000.0,
                       algorithm_name="random", description="test data", author="sizeless tests",
                       author_email="tests@sizeless.invalid", code_permalink="tests/test_control.py")
    env.close()


@pytest.fixture(scope="session")
def store(tmp_path_factory):
    import os

    root = tmp_path_factory.mktemp("minari")
    old = os.environ.get("MINARI_DATASETS_PATH")
    record(root, PENDULUM, "InvertedPendulum-v5", episodes=16, max_steps=40)
    record(root, REACHER, "Reacher-v5", episodes=6, max_steps=15)
    if old is None:
        os.environ.pop("MINARI_DATASETS_PATH")
    else:
        os.environ["MINARI_DATASETS_PATH"] = old
    return root


@pytest.fixture(scope="session")
def pendulum(store):
    return load_data(DataConfig(f"minari:{PENDULUM}", data_dir=str(store), context=5))


@pytest.fixture(scope="session")
def dt_bank(tmp_path_factory, pendulum):
    out = tmp_path_factory.mktemp("dt-bank")
    pretrain(pendulum, ["32x2"], family="decision-transformer", constraint_config={"template_width": 16,
             "num_templates": 2}, config=TrainConfig(steps=30, batch_size=16, lr=1e-3), out=out)
    return out


@pytest.fixture(scope="session")
def policy_dir(tmp_path_factory, dt_bank, pendulum):
    out = tmp_path_factory.mktemp("policy")
    initialize_full("48x3", pendulum, bank=dt_bank, fit=TrainConfig(steps=5, batch_size=16, lr=3e-3), out=out)
    return out


def test_minari_windows_are_left_padded_and_masked(pendulum):
    assert (pendulum.state_dim, pendulum.act_dim) == (4, 1)
    assert pendulum.tasks[0]["env"] == "InvertedPendulum-v5"
    first = int((pendulum.starts == torch.arange(len(pendulum.starts))).nonzero()[1])  # an episode's first row
    inputs, targets = pendulum.batch(pendulum.train, (pendulum.train.ends == first).nonzero()[0])
    assert inputs["states"].shape == (1, 5, 4) and inputs["returns_to_go"].shape == (1, 5, 1)
    assert inputs["attention_mask"].tolist() == [[0, 0, 0, 0, 1]]
    assert targets["mask"][0, :4].sum() == 0 and targets["mask"][0, 4].sum() == 1
    assert inputs["timesteps"][0, -1] == 0
    assert inputs["actions"].abs().max() <= 1  # scaled from the env's bounds (+-3) into the tanh range
    again, _ = pendulum.batch(pendulum.train, (pendulum.train.ends == first).nonzero()[0])
    assert torch.equal(again["states"], inputs["states"])


def test_train_subset_keeps_a_fixed_set_of_training_episodes(store, pendulum):
    few = load_data(DataConfig(f"minari:{PENDULUM}", data_dir=str(store), train_subset=3, context=5))
    episodes = few.starts[few.train.ends].unique()
    assert len(episodes) == 3 and set(episodes.tolist()) < set(pendulum.starts[pendulum.train.ends].tolist())
    assert torch.equal(few.val.ends, pendulum.val.ends)  # the held-out episodes do not move
    windows = torch.isin(pendulum.starts[pendulum.train.ends], episodes)
    assert torch.equal(few.train.ends, pendulum.train.ends[windows])  # every window of the kept episodes
    again = load_data(DataConfig(f"minari:{PENDULUM}", data_dir=str(store), train_subset=3, context=5))
    assert torch.equal(again.train.ends, few.train.ends)


def test_multitask_data_pads_states_and_masks_actions(store):
    data = load_data(DataConfig(f"minari:{PENDULUM},{REACHER}", data_dir=str(store), context=4))
    assert (data.state_dim, data.act_dim) == (10, 2)  # Reacher: 10 states, 2 actions; the pendulum padded
    pend_rows = data.action_mask[:, 1] == 0
    assert pend_rows.any() and (~pend_rows).any()
    assert torch.all(data.states[pend_rows][:, 4:] == 0)


def test_templated_policy_equals_exported_model_and_conv1d_layout():
    family = get_family("decision-transformer")
    size, task = family.parse_size("64x2"), TaskSpec(5, 2, 100, 4)
    constraint = build_constraint("kronecker", {"template_width": 32, "num_templates": 2})
    net = TemplateNet(family, constraint, [size], task, 2, seed=0).eval()
    plain = net.export().eval()
    assert isinstance(plain, transformers.DecisionTransformerModel)
    # GPT-2's Conv1D stores c_attn in-by-out: the kind is composed out-by-in (T kron S) and transposed
    kind = next(k for k in net.templated_kinds[size.key] if k.name == "encoder.h.*.attn.c_attn.weight")
    dense = compose_kind(net.template_tensors()[kind.name], net.scaler_tensors()[kind.name])
    assert torch.allclose(plain.encoder.h[1].attn.c_attn.weight, dense[1].T)
    inputs = {"states": torch.randn(3, 4, 5), "actions": torch.rand(3, 4, 2) * 2 - 1,
              "returns_to_go": torch.randn(3, 4, 1), "timesteps": torch.arange(4).expand(3, -1),
              "attention_mask": torch.ones(3, 4, dtype=torch.long)}
    with torch.no_grad():
        assert torch.allclose(net(inputs).action_preds, plain(**inputs).action_preds, atol=1e-6)


def test_size_sampled_policy_bank_resizes_the_task_parts_and_counts_the_drawn_flops(pendulum):
    """SWEET-style sampling runs the policy at other widths and depths: the state/action embeddings write the width
    (their rows), the heads read it (their columns), so each is resized along its own axis; the bank's FLOPs are
    those of the sizes each step drew."""
    family = get_family("decision-transformer")
    task = family.input_spec(pendulum)
    net = TemplateNet(family, build_constraint("kronecker", {"template_width": 16, "num_templates": 2}),
                      [family.parse_size("32x2h2")], task, None, seed=0)
    base = dict(net.model().named_parameters())
    _, narrow = net.weights(None, 16)  # one Kronecker replica of two: the leading one; inputs doubled
    for name in ("embed_state.weight", "embed_state.bias", "embed_action.weight"):
        assert torch.equal(narrow[name], base[name][0::2]), name
    assert torch.equal(narrow["predict_action.0.weight"], base["predict_action.0.weight"][:, 0::2] * 2)
    assert torch.equal(narrow["predict_action.0.bias"], base["predict_action.0.bias"])
    inputs, _ = pendulum.batch(pendulum.val, torch.arange(3))
    for width, depth in ((16, None), (48, 3), (64, 1)):
        assert net(inputs, None, width, depth).action_preds.shape == (3, 5, 1)

    sampling = SizeSampling((16, 32, 48), depths=(1, 2, 3))
    bank = pretrain(pendulum, ["32x2h2"], family="decision-transformer", size_sampling=sampling,
                    constraint_config={"template_width": 16, "num_templates": 2},
                    config=TrainConfig(steps=4, batch_size=8, lr=1e-3))
    assert bank.config["size_sampling"]["widths"] == [16, 32, 48] and bank.config["steps"] == 4
    draw = size_draws(["32x2h2"], sampling, 0)
    drawn = [family.build(sub_size(family.parse_size("32x2h2"), *draw(step)[1:]), task) for step in range(4)]
    assert bank.config["train_flops"] == sum(6 * 8 * example_macs(family, m, task) for m in drawn)
    assert set(bank.config["val_loss"]) == {"32x2h2", "32x2h2@16", "32x2h2@48", "32x2h2@d1", "32x2h2@d3"}


def test_from_pretrained_round_trip(policy_dir, pendulum):
    model, config = load_model(policy_dir)
    again = transformers.DecisionTransformerModel.from_pretrained(policy_dir).eval()
    assert config["sizeless"]["method"] == "templates" and config["sizeless"]["task"]["env"] == "InvertedPendulum-v5"
    assert (policy_dir / "README.md").exists()
    inputs, _ = pendulum.batch(pendulum.val, torch.arange(4))
    with torch.no_grad():
        assert torch.equal(model.eval()(**inputs).action_preds, again(**inputs).action_preds)
    bank = TemplateBank.load(policy_dir.parent / next(p.name for p in policy_dir.parent.iterdir()
                                                     if p.name.startswith("dt-bank")))
    assert bank.config["task"] == {"state_dim": 4, "act_dim": 1, "max_ep_len": 1000, "context": 5}
    assert {"head/32x2h1/embed_state.weight", "head/32x2h1/predict_action.0.weight"} <= set(bank.tensors)
    assert config["sizeless"]["head"] == "the bank's"  # the bank trained on this environment


def test_behavior_cloning_steps_lower_the_loss(pendulum):
    torch.manual_seed(0)
    family = get_family("decision-transformer")
    model = family.build(family.parse_size("32x2"), family.input_spec(pendulum))
    objective = BehaviorCloning()
    inputs, targets = pendulum.batch(pendulum.train, torch.arange(32))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(15):
        loss, _ = objective(model, inputs, targets)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_policy_for_an_unseen_task_from_the_bank(store, dt_bank, tmp_path):
    reacher = load_data(DataConfig(f"minari:{REACHER}", data_dir=str(store), context=5))
    init = initialize_full("32x3", reacher, bank=dt_bank, fit=TrainConfig(steps=3, batch_size=8), out=tmp_path / "r")
    assert (init.model.config.state_dim, init.model.config.act_dim) == (10, 2)
    bank = TemplateBank.load(dt_bank)
    # the blocks come from the bank's templates: layer 0's c_attn equals the bank's composition at that size
    net = bank.build_net("32x3", 2, image=TaskSpec(10, 2, 1000, 5))
    assert init.model.encoder.h[0].attn.c_attn.weight.shape == net.composed()["encoder.h.0.attn.c_attn.weight"].shape
    assert init.meta["head"] == "new"


def test_task_parts_carry_to_seen_environments_only(dt_bank, policy_dir, pendulum, tmp_path):
    """A bank, a weight-selection teacher and direct pre-training carry a policy's embeddings and heads to a target
    environment they trained on (a bank's resized to the width); an environment never seen gets new ones, even with
    the same state and action sizes."""
    bank = TemplateBank.load(dt_bank)
    assert bank.labels == pendulum.labels == (1, ("InvertedPendulum-v5",))
    stored = {n: bank.tensors[f"head/32x2h1/{n}"] for n in ("embed_state.weight", "embed_state.bias",
                                                             "predict_action.0.weight")}
    seen = bank.build_net("64x2", 1, labels=pendulum.labels).model()
    resize = bank.constraint.resize_features
    torch.testing.assert_close(seen.embed_state.weight, resize(stored["embed_state.weight"], 64, 0, False))
    torch.testing.assert_close(seen.embed_state.bias, resize(stored["embed_state.bias"], 64, 0, False))
    torch.testing.assert_close(seen.predict_action[0].weight, resize(stored["predict_action.0.weight"], 64))
    other = dataclasses.replace(pendulum, class_names=["OtherEnv-v0"])  # same sizes, another environment
    unseen = bank.build_net("64x2", 1, labels=other.labels).model()
    assert not torch.allclose(unseen.embed_state.weight, seen.embed_state.weight)
    # the pendulum's states padded to 6 (as multi-task data beside a larger body would be): not the bank's input
    padded = TaskSpec(6, 1, 1000, 5)
    assert not bank.carries_task_parts(pendulum.labels, padded)
    assert bank.build_net("64x2", 1, image=padded, labels=pendulum.labels).model().embed_state.weight.shape == (64, 6)

    budget = TrainConfig(steps=2, batch_size=8)
    kept = initialize_full("32x2", pendulum, method="direct", source=pendulum, pretrain_config=budget,
                           family="decision-transformer", log_dir=tmp_path / "d").model
    new = initialize_full("32x2", other, method="direct", source=pendulum, pretrain_config=budget,
                          family="decision-transformer", log_dir=tmp_path / "d").model  # the same pre-training
    assert torch.equal(kept.encoder.h[0].attn.c_attn.weight, new.encoder.h[0].attn.c_attn.weight)
    assert not torch.equal(kept.embed_state.weight, new.embed_state.weight)
    # weight selection: the teacher's parts for its environment; new ones for another, or for its environment's
    # states padded wider than the teacher's (not selected from 4 columns, which cannot give 6)
    wider = dataclasses.replace(pendulum, states=torch.nn.functional.pad(pendulum.states, (0, 2)))
    for data, head in ((pendulum, "the teacher's"), (other, "new"), (wider, "new")):
        init = initialize_full("32x2", data, method="weight-selection", teacher=policy_dir)
        assert init.meta["head"] == head and init.model.config.state_dim == data.state_dim


def test_train_and_eval_roll_out(policy_dir, pendulum, tmp_path, run_cli):
    _, result = train(policy_dir, pendulum, TrainConfig(steps=4, batch_size=16), out=tmp_path / "t")
    assert math.isfinite(result.history[-1]["val_loss"])
    metrics = rollout_model(tmp_path / "t", "InvertedPendulum-v5", episodes=3, target_return=40.0, seed=1,
                            progress=False)
    assert metrics["episodes"] == 3 and all(math.isfinite(metrics[k]) for k in ("return_mean", "return_std",
                                                                                 "normalized_score"))
    code, out, _ = run_cli("eval", "--model", str(tmp_path / "t"), "--env", "InvertedPendulum-v5", "--episodes", "2",
                           "--target-return", "40")
    assert code == 0 and "normalized score" in out
    card = ModelCard.load(tmp_path / "t" / "README.md")  # a trained policy carries its card too
    assert card.data.library_name == "transformers" and str(policy_dir) in card.text


def test_policy_folders_carry_cards_and_describe_themselves(policy_dir, dt_bank, run_cli):
    card = ModelCard.load(policy_dir / "README.md")
    data = card.data.to_dict()
    assert data["library_name"] == "transformers" and {"sizeless", "decision-transformer", "templates"} <= set(
        data["tags"])
    assert "InvertedPendulum-v5" in card.text and "returns-to-go" in card.text and f"bank {dt_bank}" in card.text
    code = card.text.split("```python\n")[1].split("```")[0]
    scope = {}
    exec(code, scope)  # the card's two lines load the policy in bare transformers
    assert isinstance(scope["model"], transformers.DecisionTransformerModel)
    code, out, err = run_cli("info", str(policy_dir))
    assert code == 0 and "48x3h1 (GPT-2 policy, width 48" in out and "context windows of minari:" in out, err
    code, out, err = run_cli("info", str(dt_bank))
    assert code == 0 and "family: Decision Transformer" in out and "32x2" in out, err


def test_dt_macs_match_an_analytic_count():
    """Every matrix product of a policy forward over one context window of K steps (3K tokens), counted by hand."""
    family, task = get_family("decision-transformer"), TaskSpec(5, 2, 100, 4)
    model = family.build(family.parse_size("64x2"), task)
    k, w, depth, tokens = task.context, 64, 2, task.positions
    per_block = tokens * (3 * w * w + w * w + 2 * w * 4 * w) + 2 * tokens * tokens * w
    embeddings_and_heads = 2 * k * w * (1 + task.state_dim + task.act_dim)  # return/state/action in and out
    assert example_macs(family, model, task) == depth * per_block + embeddings_and_heads
    assert model.config._attn_implementation == "sdpa"  # counted with eager attention, left as it was


def test_sizes_and_init_within_a_budget_for_a_policy(dt_bank, store, tmp_path, run_cli):
    """`sizes` lists a policy bank's sizes by MACs per context window; `init --max-params` picks one for a new
    task within the budget, and its counts are the exported policy's."""
    grid = ["--max-params", "65000", "--widths", "16,32", "--depths", "1:3"]
    code, out, err = run_cli("sizes", "--bank", str(dt_bank), *grid)
    assert code == 0 and "MACs / context window" in out and "within 65,000 parameters" in out, err
    code, _, err = run_cli("init", "--bank", str(dt_bank), *grid, "--data", f"minari:{REACHER}", "--data-dir",
                           str(store), "--context", "5", "--fit-steps", "0", "--out", str(tmp_path / "p"))
    assert code == 0, err
    said = re.search(r"size (\S+) \(([\d,]+) parameters, ([\d,]+) MACs per context window", err)
    chosen, params, macs = said.groups()
    model, _ = load_model(tmp_path / "p")
    task = TaskSpec(10, 2, 1000, 5)  # Reacher's states and actions, the bank's episode length and context
    family = get_family("decision-transformer")
    assert model.config.hidden_size == int(chosen.split("x")[0]) and model.config.state_dim == 10
    assert (count_params(model), example_macs(family, model, task)) == (int(params.replace(",", "")),
                                                                        int(macs.replace(",", "")))
    assert chosen == "32x2h1" and count_params(model) <= 65_000 and (tmp_path / "p" / "README.md").is_file()
    code, out, err = run_cli("sizes", "--bank", str(dt_bank), "--widths", "16", "--depths", "1", "--latency", "--json")
    assert code == 0 and 0 < json.loads(out)["sizes"][0]["latency_ms"] < 10_000, err  # real policy forwards


def test_bad_inputs(policy_dir, store, tmp_path, run_cli, monkeypatch):
    model = str(policy_dir)
    cases = {
        "unknown environment": ("eval", "--model", model, "--env", "NoSuchEnv-v0"),
        "finite number": ("eval", "--model", model, "--env", "InvertedPendulum-v5", "--target-return", "inf"),
        "takes states of size 4 and actions of size 1": ("train", "--model", model, "--data", f"minari:{REACHER}",
                                                    "--data-dir", str(store), "--steps", "2", "--out",
                                                    str(tmp_path / "mismatch")),
        "not found in the store": ("train", "--size", "32x2", "--family", "decision-transformer", "--data",
                                   "minari:test/missing-v0", "--data-dir", str(store), "--out", str(tmp_path / "m")),
    }
    for words, args in cases.items():
        code, _, err = run_cli(*args)
        assert code == 2 and words in " ".join(err.split()), (words, err)
    assert not any((tmp_path / d).exists() for d in ("mismatch", "m"))  # nothing written half-way

    monkeypatch.setitem(sys.modules, "transformers", None)  # as if the control extra were not installed
    code, _, err = run_cli("train", "--size", "32x2", "--family", "decision-transformer", "--data",
                           f"minari:{PENDULUM}", "--data-dir", str(store), "--steps", "1", "--out", str(tmp_path / "x"))
    assert code == 2 and "pip install 'sizeless[control]'" in err and len(err.strip().splitlines()) <= 3
    with pytest.raises(SizelessError, match="sizeless\\[control\\]"):
        get_family("decision-transformer").build(get_family("decision-transformer").parse_size("32x2"),
                                                 TaskSpec(4, 1))


def test_weight_selection_keeps_q_k_v_column_groups_and_mimetic_shapes_gpt2_attention(tmp_path, pendulum):
    from sizeless.initializers.mimetic import apply_mimetic
    from sizeless.initializers.weight_selection import select

    family = get_family("decision-transformer")
    weight = torch.arange(4 * 12).reshape(4, 12).float()  # in-by-out c_attn of width 4: q | k | v columns
    picked = select(weight, (2, 6), 3, 1)
    assert picked[0].tolist() == [0, 2, 4, 6, 8, 10]  # two columns of each of q, k, v, rows evenly spaced
    model = family.build(family.parse_size("64x1h2"), TaskSpec(4, 1, 100, 4))
    apply_mimetic(model, torch.Generator().manual_seed(0), family.attention)
    attn = model.encoder.h[0].attn
    q, k = attn.c_attn.weight[:, :64].T, attn.c_attn.weight[:, 64:128].T  # out-by-in
    head = (q[:32].T @ k[:32]).detach()
    assert torch.trace(head) / 64 > 0.3  # W_q^T W_k of a head is near alpha Z + beta I (positive diagonal)


def test_bench_runs_every_default_method_and_amortizes_direct(store, dt_bank, tmp_path):
    """The policy bench accepts the image bench's default methods; direct pre-training gets the bank's FLOPs at each
    size (DESIGN 2.7), direct-amortized that divided by the number of sizes, and the report names every method."""
    from sizeless.bench import BenchConfig, run_init_bench

    cfg = BenchConfig(data=f"minari:{PENDULUM}", data_dir=str(store), out=tmp_path / "b", sizes=["32x3", "48x2"],
                      methods=["templates", "direct", "direct-amortized", "weight-selection"],
                      family="decision-transformer", bank=str(dt_bank), teacher_size="64x2", fit_steps=2,
                      train_steps=3, eval_steps=[1], batch_size=8, context=5, episodes=1, seeds=1)
    rows = run_init_bench(cfg)
    assert {r["method"] for r in rows if r["status"] == "ok"} == {"templates", "direct", "direct-amortized",
                                                                  "weight-selection"}
    direct = json.loads((tmp_path / "b" / "runs" / "direct-32x3h1-seed0" / "init" / "config.json").read_text())
    amortized = json.loads((tmp_path / "b" / "runs" / "direct-amortized-32x3h1-seed0" / "init" / "config.json")
                           .read_text())
    bank = TemplateBank.load(dt_bank)
    macs = {s: example_macs(bank.family, bank.family.build(bank.family.parse_size(s), bank.image), bank.image)
            for s in ("32x2", "32x3", "64x2")}  # counted on built models, not on the bench's meta-device ones
    bank_flops = 6 * macs["32x2"] * 30 * 16  # the bank's 30 steps of 16 windows
    steps = bank_flops / (6 * macs["32x3"] * 16)
    assert 15 < steps < 25  # a third deeper model: about two thirds of the bank's steps
    assert direct["sizeless"]["pretrain_steps"] == round(steps)
    setup = json.loads((tmp_path / "b" / "runs" / "direct-32x3h1-seed0" / "setup.json").read_text())
    assert setup["task_parts"] == "carried"  # the pendulum was pre-trained on: a folder made before the rule is refused
    assert amortized["sizeless"]["pretrain_steps"] == round(steps / 2)
    report = (tmp_path / "b" / "report.md").read_text()
    assert "direct-amortized" in report and f"| direct | {round(steps)} at 32x3h1, " in report
    # the bank's wall time carries its CPU time and threads, so a shared CPU is marked as in the image bench
    from sizeless.bench.report import wall_time

    cost = json.loads((tmp_path / "b" / "results.json").read_text())["meta"]["inputs"]["templates"]
    assert cost["cpu_seconds"] is not None and cost["threads"] >= 1
    cell = wall_time(cost["seconds"], cost["cpu_seconds"], cost["threads"], torch.get_num_threads())
    assert cost["flops"] == bank_flops
    teacher = json.loads((tmp_path / "b" / "results.json").read_text())["meta"]["inputs"]["weight-selection"]
    assert teacher["steps"] == round(bank_flops / (6 * macs["64x2"] * 16)) < 30  # the bank's FLOPs, wider model
    assert f"| templates | {cost['steps']} | {bank_flops / 1e9:.1f} | {cell} |" in report
    # a third size amortizes a third per size: the folder of the half-budget model is refused, not reused
    with pytest.raises(SizelessError, match=r"direct-amortized-32x3h1-seed0 was run with other settings "
                                            rf"\(pretrain_steps {round(steps / 2)} -> {round(steps / 3)}\)"):
        run_init_bench(dataclasses.replace(cfg, sizes=["32x3", "48x2", "32x2"], methods=["direct-amortized"]))


def test_bench_builds_a_size_sampled_bank_within_the_banks_flops(store, tmp_path):
    """--bank-widths/--bank-depths: the bench's bank draws a size per step and takes as many steps as spend the FLOPs
    of --pretrain-steps at its own size, so TLEG's learngene (the bank's size) keeps those FLOPs and its steps."""
    from sizeless.bench import BenchConfig, run_init_bench

    cfg = BenchConfig(data=f"minari:{PENDULUM}", data_dir=str(store), out=tmp_path / "b", sizes=["32x3"],
                      methods=["templates", "linear-expansion"], family="decision-transformer", bank_size="32x2",
                      template_width=16, num_templates=2, bank_widths=[32, 64], bank_depths=[2, 3], pretrain_steps=12,
                      fit_steps=1, train_steps=2, eval_steps=[1], batch_size=8, context=5, episodes=1, seeds=1)
    rows = run_init_bench(cfg)
    assert {r["method"] for r in rows if r["status"] == "ok"} == {"templates", "linear-expansion"}
    inputs = json.loads((tmp_path / "b" / "results.json").read_text())["meta"]["inputs"]
    bank, learngene = inputs["templates"], inputs["linear-expansion"]
    family, task = get_family("decision-transformer"), TaskSpec(4, 1, 1000, 5)  # the pendulum's, context 5
    own = example_macs(family, family.build(family.parse_size("32x2"), task), task)
    assert 3 <= bank["steps"] < 12 <= bank["flops"] / (6 * own * 8) < 12 + 6  # drawn sizes cost up to 6x the own
    assert learngene["steps"] == round(bank["flops"] / (6 * own * 8))  # the bank's FLOPs (its last draw included)
    assert TemplateBank.load(tmp_path / "b" / "bank").config["size_sampling"]["depths"] == [2, 3]
    assert "each step at a width of 32, 64 and a depth of 2, 3 (uniform draws)" in (tmp_path / "b" / "report.md"
                                                                                    ).read_text()


def test_bench_counts_the_fit_inside_the_budget_and_sweeps_lrs_on_held_out_episodes(store, dt_bank, tmp_path):
    """Template methods' fit is behavior cloning on the target: their curve starts after it and they train the
    rest of the same budget; every method gets the LR with the lowest held-out loss (seed 0), later seeds reuse it."""
    from sizeless.bench import BenchConfig, run_init_bench

    cfg = BenchConfig(data=f"minari:{PENDULUM}", data_dir=str(store), out=tmp_path / "b", sizes=["32x3"],
                      methods=["templates", "scratch"], family="decision-transformer", bank=str(dt_bank),
                      fit_steps=2, train_steps=5, eval_steps=[1, 3], batch_size=8, context=5, episodes=1, seeds=2,
                      lrs=[1e-4, 3e-3], train_subset=10)
    rows = [r for r in run_init_bench(cfg) if r["status"] == "ok"]
    steps = {(m, s): sorted(r["step"] for r in rows if (r["method"], r["seed"]) == (m, s))
             for m in ("templates", "scratch") for s in (0, 1)}
    assert steps[("templates", 0)] == steps[("templates", 1)] == [2, 3, 5]  # from the fitted init on
    assert steps[("scratch", 0)] == [0, 1, 3, 5]
    for method in ("templates", "scratch"):
        seed0 = next(r for r in rows if r["method"] == method and r["seed"] == 0)
        losses = seed0["sweep_val_loss"]
        assert set(losses) == {"0.0001", "0.003"} and f"{seed0['lr']:g}" == min(losses, key=losses.get)
        assert {r["lr"] for r in rows if r["method"] == method} == {seed0["lr"]}  # seed 1 reuses seed 0's choice
        run = tmp_path / "b" / "runs" / f"{method}-32x3h1-seed0"
        curve = (run / f"train-lr{seed0['lr']:g}" / "metrics.csv").read_text().splitlines()
        assert curve[-1].split(",")[1] == str(5 - seed0["fit_steps"])  # the rest of the budget after the fit
        assert not list((tmp_path / "b" / "runs" / f"{method}-32x3h1-seed1").glob("sweep-*"))
    report = (tmp_path / "b" / "report.md").read_text()
    assert "Learning rate chosen on held-out episodes" in report and "a fixed 10 of its training episodes" in report
    with pytest.raises(SizelessError, match="--fit-steps 5 must be below --train-steps 5"):
        run_init_bench(dataclasses.replace(cfg, fit_steps=5, out=tmp_path / "c"))
    # a wider grid on the same folder sweeps the new LR too; a cached curve reports the sweep that chose it now
    wider = [r for r in run_init_bench(dataclasses.replace(cfg, seeds=1, lrs=[1e-4, 3e-3, 1e-5]))
             if r["status"] == "ok"]
    assert {frozenset(r["sweep_val_loss"]) for r in wider} == {frozenset({"0.0001", "0.003", "1e-05"})}


def test_a_bank_variant_is_reported_beside_another_benchs_methods(store, dt_bank, tmp_path):
    """--compare-with: the other bench's methods stand in this report, never in its results; a bench judged under
    another budget or on another dataset is refused before anything trains."""
    from sizeless.bench import BenchConfig, run_init_bench

    cfg = BenchConfig(data=f"minari:{PENDULUM}", data_dir=str(store), out=tmp_path / "base", sizes=["32x3"],
                      methods=["scratch"], family="decision-transformer", bank=str(dt_bank), fit_steps=2,
                      train_steps=3, batch_size=8, context=5, episodes=1, seeds=1)
    run_init_bench(cfg)
    variant = dataclasses.replace(cfg, out=tmp_path / "variant", methods=["templates"], compare_with=tmp_path / "base")
    run_init_bench(variant)
    saved = json.loads((tmp_path / "variant" / "results.json").read_text())
    assert {r["method"] for r in saved["rows"]} == {"templates"}
    report = (tmp_path / "variant" / "report.md").read_text()
    assert "| size | templates | scratch | templates - best baseline |" in report
    assert f"come from `{tmp_path / 'base'}`" in report
    with pytest.raises(SizelessError, match=re.escape("train_steps 3 (this bench: 4)")):
        run_init_bench(dataclasses.replace(variant, out=tmp_path / "refused", train_steps=4))
    record = tmp_path / "base" / "results.json"  # the same dataset id, remade with another expert
    remade = json.loads(record.read_text())
    remade["meta"]["task"]["ref_max_score"] = 999.0
    record.write_text(json.dumps(remade))
    with pytest.raises(SizelessError, match=r"judged another dataset: ref_max_score 999.0 \(this bench: 1000.0\)"):
        run_init_bench(dataclasses.replace(variant, out=tmp_path / "refused"))
    assert not (tmp_path / "refused" / "runs").exists()  # refused before anything trained
