"""Banks and model folders in a few lines a person reads: `sizeless info` and the model cards.

Everything comes from the folder's own config.json (and, for a bank, its family and
constraint), so a folder describes itself wherever it is copied.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .bank import TemplateBank
from .budget import count_params
from .errors import SizelessError
from .families import FAMILIES, example_noun
from .files import read_json
from .sizing import default_widths

Facts = list[tuple[str, str]]


def plural(count, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.2f}%"


def describe_bank(bank: TemplateBank) -> Facts:
    cfg, family, constraint = bank.config, bank.family, bank.constraint
    options = ", ".join(f"{k}={v}" for k, v in (cfg.get("family_config") or {}).items())
    scores = cfg.get("val_acc") or {}
    metric = ("val acc", percent) if scores else ("val loss", lambda v: "n/a" if v is None else f"{v:.4f}")
    scores = scores or cfg.get("val_loss") or {}
    sizes = "; ".join(f"{key} ({_size(family, key)}; {metric[0]} {metric[1](scores.get(key))})"
                      for key in cfg["sizes"])
    widths = f"; widths here: {_few(servable_widths(bank))}" if hasattr(family, "grid_size") else ""
    given = ", ".join(f"{k} {v}" for k, v in vars(bank.image).items())
    classes = f", {cfg['num_classes']} classes" if cfg.get("num_classes") else ""
    train = cfg.get("train") or {}
    seconds = f", {cfg['seconds']:.0f} s" if cfg.get("seconds") else ""
    seconds += f", {cfg['train_flops']:.3g} training FLOPs" if cfg.get("train_flops") else ""
    return [
        ("template bank", f"{bank.path or '(in memory)'} (sizeless {cfg.get('library_version')}, "
                          f"created {cfg.get('created')})"),
        ("family", getattr(family, "title", family.name) + (f" ({options})" if options else "")),
        ("constraint", constraint.describe()),
        ("pre-trained at", sizes),
        ("serves", f"{constraint.serves()}{widths}"),
        ("objective", _objective(cfg)),
        ("data", f"{cfg.get('data')}{classes}; input: {given}"),
        ("budget", f"{plural(cfg.get('steps', 0), 'step')} ({plural(train.get('epochs'), 'epoch')} of batch "
                   f"{train.get('batch_size')}, peak LR {train.get('lr')}){seconds}; "
                   f"{cfg.get('template_params', 0):,} template parameters"),
    ]


def _size(family, key: str) -> str:
    describe = getattr(family, "describe_size", None)
    return describe(family.parse_size(key)) if describe else key


def servable_widths(bank: TemplateBank) -> list[int]:
    """The widths of the default `sizeless sizes` grid that the bank serves at its own depth."""
    family, like = bank.family, bank.widest_size
    depth = family.grid_point(like)[1]
    out = []
    for width in default_widths(bank):
        try:
            bank.check_serves(family.grid_size(like, width, depth))
            out.append(width)
        except SizelessError:
            continue
    return out


def _few(values: list[int], shown: int = 8) -> str:
    if len(values) <= shown:
        return ", ".join(map(str, values))
    return f"{', '.join(map(str, values[:shown - 2]))}, ..., {values[-1]}"


def _objective(cfg: dict) -> str:
    objective = cfg.get("objective", "supervised")
    if objective == "distill" and cfg.get("distill"):
        d = cfg["distill"]
        return (f"distill from {d.get('teacher')} (temperature {d.get('temperature')}, KD weight "
                f"{d.get('kd_weight')}, CE weight {d.get('ce_weight')})")
    if objective == "mae" and cfg.get("mae"):
        return f"mae (mask ratio {cfg['mae'].get('mask_ratio')}; no labels read)"
    sampling = cfg.get("size_sampling") or cfg.get("width_sampling") or {}  # (banks before size sampling)
    drawn = " and ".join(f"{k} {sampling[k]}" for k in ("widths", "depths") if sampling.get(k))
    if drawn and sampling["distribution"] == "paired":
        return (f"{objective} at its own size, plus a size per step drawn from {drawn} and distilled from it "
                f"(paired, weight {sampling.get('paired_weight')})")
    return objective + (f", a size per step drawn from {drawn} ({sampling['distribution']})" if drawn else "")


def _from_bank(meta: dict) -> str:
    bank = meta.get("bank") or {}
    fit = meta.get("fit") or {}
    where = f"bank {bank.get('path')}" if bank.get("path") else "a bank"
    what = f" ({bank.get('constraint')}, pre-trained at {', '.join(bank.get('sizes') or [])} on {bank.get('data')}, " \
           f"{bank.get('objective')})" if bank else ""
    noun = example_noun(FAMILIES.get(meta.get("family", "vit")))
    data = f" on {fit.get('images'):,} {noun}s of {fit.get('data')}" if fit.get("images") else ""
    scalers = f", {meta['scaler_params']:,} scalers" if meta.get("scaler_params") is not None else ""
    return (f"{meta['method']} from {where}{what}, seeded from {meta.get('seeded_from')}, "
            f"{meta.get('fit_steps', 0)} fit steps{data}{scalers}")


MADE_BY: dict[str, Callable[[dict], str]] = {
    "templates": _from_bank,
    "linear-expansion": _from_bank,
    "weight-selection": lambda m: f"weight selection from {m.get('teacher')} ({m.get('teacher_size')})",
    "direct": lambda m: f"direct pre-training of this size ({m.get('pretrain_steps')} steps)",
    "mimetic": lambda m: "mimetic init (attention's QK and VO products start near scaled identities)",
    "scratch": lambda m: "random init (the model library's own)",
}


def made_by(meta: dict) -> str:
    method = meta.get("method")
    if method is None:
        return "not recorded (a model folder sizeless did not make)"
    return MADE_BY.get(method, lambda m: method)(meta)


def describe_model(config: dict, path: str | Path, load: list[str], params: int | None = None) -> Facts:
    """``load``: the lines of Python that load the folder (its format's ``load_lines``)."""
    meta = config.get("sizeless") or {}
    family = FAMILIES.get(meta.get("family", "vit"))
    arch = config.get("architecture") or config.get("model_type", "?")
    shape = "x".join(map(str, (config.get("pretrained_cfg") or {}).get("input_size", [])))
    parts = [f"{params:,} parameters" if params is not None else "",
             f"{config['num_classes']} classes" if config.get("num_classes") else "", f"input {shape}" if shape else ""]
    facts = [("model", f"{path}: {', '.join([arch, *filter(None, parts)])}")]
    if meta.get("size") and family is not None:
        facts.append(("size", f"{meta['size']} ({_size(family, meta['size'])})"))
    facts.append(("made by", made_by(meta)))
    if meta.get("train"):
        t = meta["train"]
        facts.append(("trained", f"{plural(t.get('epochs'), 'epoch')} of batch {t.get('batch_size')} at peak LR "
                                 f"{t.get('lr')} (warm-up {t.get('warmup')}) on {meta.get('data')}, from "
                                 f"{meta.get('trained_from')}"))
    if meta.get("fit_val_acc") is not None or meta.get("val_acc") is not None:
        facts.append(("accuracy", f"after init {percent(meta.get('fit_val_acc'))}, after training "
                                  f"{percent(meta.get('val_acc')) if meta.get('train') else 'not trained yet'}"))
    if meta.get("recommended"):
        rec = meta["recommended"]
        facts.append(("recommended", f"fine-tune at peak LR {rec.get('lr'):g} with {100 * rec.get('warmup', 0):g}% "
                                     "warm-up (what `sizeless train` uses unless given --lr/--warmup)"))
    facts.append(("load", "; ".join(load)))
    return facts


def describe_path(path: str | Path) -> Facts:
    """A bank's or a model folder's facts, whichever ``path`` is."""
    path = Path(path)
    if (path / "templates.safetensors").is_file():
        return describe_bank(TemplateBank.load(path))
    if (path / "config.json").is_file() and not (path / "templates.safetensors").exists():
        from .models import folder_format  # models writes cards, which quote this module

        config = read_json(path / "config.json", "model config")
        fmt = folder_format(path, config)
        record = getattr(fmt, "record", None)  # a format that keeps sizeless's record elsewhere (diffusers)
        seen = {**config, "sizeless": record(config), "architecture": config.get("_class_name")} if record else config
        return describe_model(seen, path, fmt.load_lines(path, config), _params(fmt, path, config))
    raise SizelessError(f"{path} is neither a template bank (templates.safetensors) nor a model folder "
                        "(config.json); pass a folder written by `sizeless pretrain`, `init` or `train`")


def _params(fmt, path: Path, config: dict) -> int | None:
    """The folder's parameter count, from the model its format loads (None when it cannot be loaded here)."""
    try:
        return count_params(fmt.load(path, config)[0])
    except SizelessError:
        return None
