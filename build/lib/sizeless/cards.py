"""Model cards: the README.md every model folder gets, in the Hugging Face model-card form.

YAML front matter (library, pipeline tag, tags, datasets, metrics and, when known, the measured
accuracy as a model-index result) from ``huggingface_hub``'s own card data, then how the model was
made and how to load it in two lines, so the folder can be pushed to the Hub as it is and read by
people who have never heard of sizeless.
"""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import EvalResult, ModelCardData
from torch import nn

from .budget import count_params
from .describe import describe_model, made_by
from .families import FAMILIES, needs_sizeless
from .files import atomic_path, read_json

CARD_FILE = "README.md"
PROJECT = "sizeless"


def card_data(config: dict, library: str) -> ModelCardData:
    meta = config.get("sizeless") or {}
    family = FAMILIES.get(meta.get("family", "vit"))
    task = getattr(family, "task", None)
    data = meta.get("data")
    tags = [PROJECT, library, *(t for t in (meta.get("family"), meta.get("method"),
                                            (meta.get("bank") or {}).get("constraint")) if t)]
    accuracy = meta.get("val_acc") if meta.get("train") else meta.get("fit_val_acc")
    results = [EvalResult(task_type=task, dataset_type=data, dataset_name=data, dataset_split="validation",
                          metric_type="accuracy", metric_value=round(accuracy, 4))] \
        if accuracy is not None and data and task else None
    return ModelCardData(library_name=library, pipeline_tag=task, tags=list(dict.fromkeys(tags)),
                         datasets=[data] if data else None, metrics=["accuracy"] if results else None,
                         model_name=meta.get("size") or config.get("architecture"), eval_results=results)


def render_card(path: str | Path, config: dict, library: str, load: list[str], params: int | None = None,
                notes: list[str] = ()) -> str:
    """The card of the folder ``path``: ``library`` stores it, ``load`` are the lines of Python that load it,
    ``notes`` the paragraphs its format adds (e.g. how a policy is fed)."""
    meta = config.get("sizeless") or {}
    arch = config.get("architecture", "")
    facts = describe_model(config, path, load, params)
    cfg = config.get("pretrained_cfg") or {}
    lines = [
        "---", card_data(config, library).to_yaml(), "---", "",
        f"# {Path(path).name}", "",
        f"A {library} model{f' (`{arch}`)' if arch else ''} made with {PROJECT}: {made_by(meta)}.", "",
        "| | |", "|---|---|", *(f"| {label} | {text.replace('|', '/')} |" for label, text in facts), "",
        "## How to load", "",
        "```python", *load, "```", "",
    ]
    for note in notes:
        lines += [note, ""]
    if needs_sizeless(arch):
        lines += [f"The architecture `{arch}` is not part of {library}: sizeless registers it when imported, so "
                  f"`pip install {PROJECT}` and `import {PROJECT}` first (without it, {library} answers "
                  f"`Unknown model ({arch})`).", ""]
    if cfg.get("mean"):
        lines += [f"Inputs: {'x'.join(map(str, cfg.get('input_size', [])))} images scaled to [0, 1] and normalized "
                  f"with mean {cfg['mean']} and std {cfg['std']} (`timm.data.resolve_data_config({{}}, model=model)` "
                  "reads them from the folder).", ""]
    if meta.get("recommended"):
        rec = meta["recommended"]
        lines += ["## Fine-tuning", "",
                  f"Train it as any {library} model. After this initialization a peak learning rate of "
                  f"{rec.get('lr'):g} with {100 * rec.get('warmup', 0):g}% warm-up keeps what the init knows (a "
                  f"random-init recipe's higher rate knocks it back in the first epoch); `{PROJECT} train --model "
                  "PATH` uses it.", ""]
    return "\n".join(lines)


def write_card(path: str | Path, fmt, model: nn.Module | None = None) -> Path:
    """Write ``path/README.md`` atomically from the folder's config.json, saved by the model format ``fmt``
    (``model`` gives the parameter count)."""
    path = Path(path)
    if getattr(fmt, "writes_card", False):  # optional: a format that writes its own card with the folder (diffusers)
        return path / CARD_FILE
    config = read_json(path / "config.json", "model config")
    notes = getattr(fmt, "card_notes", lambda config: [])(config)  # optional: what the format adds
    library = getattr(fmt, "library", fmt.name)  # optional: the library that loads it, when not the format's name
    text = render_card(path, config, library, fmt.load_lines(path, config),
                       count_params(model) if model is not None else None, notes)
    with atomic_path(path / CARD_FILE) as tmp:
        tmp.write_text(text)
    return path / CARD_FILE
