"""A trained bank carries knowledge to sizes it never saw.

For every family and constraint: after the same short fit, a model initialized from a trained
bank is far more accurate than one from an untrained bank of the same shape (the same scalers
and head fitted on templates that know nothing). Measured on digits (chance 10%), margins of
0.22-0.47 at the smallest; 0.15 is asked for.
"""

import pytest

from sizeless.api import evaluate_model, initialize_full
from sizeless.bank import TemplateBank
from sizeless.training import TrainConfig

FIT = TrainConfig(steps=20, batch_size=64, lr=3e-3, warmup=0.1, weight_decay=0.0)
MARGIN = 0.15
CASES = [  # bank fixture, key, sizes it never saw: a new depth, a new width, both
    ("bank_dir", None, ("32x4", "64x2", "48x3")),
    ("cnn_banks", "resnet", ("8x2-3-2-2", "16x1-2-1-1", "12x2-2-2-2")),
    ("cnn_banks", "convnext", ("8x2-3-2-2", "16x1-2-1-1", "12x2-2-2-2")),
    ("tucker_bank_dir", None, ("64x3", "48x2h2", "80x3h2")),  # widths no template width divides
]


@pytest.mark.parametrize(("fixture", "key", "sizes"), CASES, ids=["vit", "resnet", "convnext", "vit-tucker"])
def test_a_trained_bank_beats_an_untrained_one_at_new_sizes(request, digits, untrained, fixture, key, sizes):
    found = request.getfixturevalue(fixture)
    bank = TemplateBank.load(found[key] if key else found)
    blank = untrained(bank)
    for size in sizes:
        trained_acc = evaluate_model(initialize_full(size, digits, bank=bank, fit=FIT).model, digits)["acc"]
        blank_acc = evaluate_model(initialize_full(size, digits, bank=blank, fit=FIT).model, digits)["acc"]
        assert trained_acc > blank_acc + MARGIN, (size, trained_acc, blank_acc)
