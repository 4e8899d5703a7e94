"""Which command-line overrides make runs measure different things: the one rule that groups seeds, both into
W&B groups (``liir.loggers``) and into the cells of a report (``liir.report``).

Kept free of Lightning and torch so that ``python -m liir.report`` starts in a second or two.
"""

from __future__ import annotations

# Overrides that do not change what is being measured, so they never split a group (a key, or a key and everything
# under it): the seed, run plumbing, and the budget ``t_max`` (a run stopped earlier is a shorter run of the same
# configuration; a report flags cells whose seeds have unequal lengths). The simulator's compilation changes speed
# only: its compiled and eager steps give the same trajectories.
NON_GROUPING_KEYS = (
    "seed", "t_max", "ckpt_path", "overwrite", "logger", "device", "torch_threads", "hydra", "callbacks",
    "log_interval", "save_model", "save_model_interval", "env.env_args.sim.compile",
)  # fmt: skip


def splits_groups(override: str) -> bool:
    """Whether runs that differ in ``override`` measure different things: not the env/algo choice (each grouping
    names them itself) nor a run-plumbing key, but any other key, ``algo.lr`` or ``env.env_args.…`` included."""
    key = override.lstrip("+~").split("=")[0]
    plumbing = any(key == name or key.startswith(f"{name}.") for name in NON_GROUPING_KEYS)
    return key not in ("env", "algo") and not plumbing


def group_overrides(overrides: list[str]) -> list[str]:
    """The overrides that split groups, sorted: runs of one env and algo that agree on these are seeds of one
    configuration."""
    return sorted(o for o in overrides if splits_groups(o))
