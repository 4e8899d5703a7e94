"""The library warnings a clean liir run would print although nothing is wrong, each silenced exactly.

Every entry matches one message, its category and the library module it is attributed to, so the same
text from anywhere else, or a new warning, still shows. Call ``install()`` once, first thing in an entry
point; the test suite loads this module as a pytest plugin (``-p liir.warning_filters`` in pyproject), so
in-process trainers in tests are held to the same list.
"""

from __future__ import annotations

import logging
import re
import warnings

from lightning.fabric.utilities.warnings import PossibleUserWarning

# (message regex, matched at the start; category; module, the whole name): each a deliberate use of ours,
# or a matter inside a library that our code cannot reach.
FILTERS: list[tuple[str, type[Warning], str]] = [
    # ``training_step(dataloader_iter)`` is deliberate (see liir.data.datamodule): the learner pulls each
    # rollout itself, so Lightning never pre-fetches one collected with the previous step's parameters.
    # Each step takes exactly one item, so the batch_idx caveat of the first message does not apply.
    (
        r"You are using the `dataloader_iter` step flavor\.",
        PossibleUserWarning,
        "lightning.pytorch.trainer.configuration_validator",
    ),
    (
        r"Found `dataloader_iter` argument in the `training_step`\.",
        UserWarning,
        "lightning.pytorch.loops.utilities",
    ),
    # Lightning's own pytree helper (called by its CombinedLoader on every fit) builds a ``LeafSpec``, which
    # newer torch deprecates (2.13 here); nothing of ours is involved, and a Lightning release will drop it.
    (
        r"`isinstance\(treespec, LeafSpec\)` is deprecated",
        FutureWarning,
        "lightning.pytorch.utilities._pytree",
    ),
    # torch.compile (the SMAC simulator) imports torch's inductor, which imports torch.utils.mkldnn, whose classes
    # use torch's own deprecated ``torch.jit.script_method``; the warning names torch.jit._script whoever calls it,
    # and liir never does (no torch.jit anywhere). A DeprecationWarning: only pytest shows it by default.
    (
        r"`torch\.jit\.script_method` is deprecated\.",
        DeprecationWarning,
        "torch.jit._script",
    ),
    # metrics.csv is written into Hydra's run directory on purpose, and Hydra has always put ``.hydra/`` and
    # ``train.log`` there before the logger starts, so "exists and is not empty" fires on every run. A run
    # directory belongs to one run: a second run into it replaces metrics.csv as it replaces the checkpoints.
    (
        r"Experiment logs directory .* exists and is not empty\.",
        UserWarning,
        "lightning.fabric.loggers.csv_logs",
    ),
]

# Lightning advertises its hosted logger at INFO on every fit; the run's own info lines stay.
_ADVERT = "💡 Tip: For seamless cloud logging"
_ADVERT_LOGGER = "lightning.pytorch.utilities.rank_zero"


def _not_advert(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith(_ADVERT)


def install() -> None:
    """Add the filters (idempotent: a second call changes nothing)."""
    for message, category, module in FILTERS:
        warnings.filterwarnings("ignore", message=message, category=category, module=re.escape(module) + r"\Z")
    advert_logger = logging.getLogger(_ADVERT_LOGGER)
    if _not_advert not in advert_logger.filters:
        advert_logger.addFilter(_not_advert)


def pytest_configure(config) -> None:
    """pytest plugin hook (``-p liir.warning_filters``): the suite runs under the same filters.

    Given as ``filterwarnings`` ini lines, because pytest puts "always show DeprecationWarning" in front of
    any filter installed before a test starts.
    """
    for message, category, module in FILTERS:
        line = f"ignore:{message}:{category.__module__}.{category.__qualname__}:{re.escape(module)}\\Z"
        config.addinivalue_line("filterwarnings", line)
