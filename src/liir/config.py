"""Typed schemas of the run configuration (Hydra structured configs), so a bad value fails with its key named.

The values live in ``conf/`` YAML; these dataclasses give their types and constraints. Each YAML file names its
schema in its defaults list (``conf/config.yaml``: ``/schema/run``; ``conf/env/*``: ``/schema/env``;
``conf/algo/*``: ``/schema/algo``), so Hydra checks types and choices while it composes. Numeric constraints
(positive sizes, intervals and learning rates) are checked by the ``check`` methods when ``validate`` converts
the composed config to these objects (not ``__post_init__``: OmegaConf also builds the defaults, all ``???``).
Importing this module registers the schemas in Hydra's ConfigStore.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, is_dataclass
from enum import Enum
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from liir.nn.mixers import HYPERNET_LAYERS


class ConfigError(ValueError):
    """A configuration value is out of its allowed range."""


class Choice(str, Enum):
    """A choice among fixed strings. An Enum, not ``typing.Literal``: OmegaConf 2.3 rejects Literal annotations.

    Member names equal their values, so ``to_container(..., enum_to_str=True)`` gives the plain strings the
    algorithms compare against, and ``str()``/f-strings print the value, not ``Class.member``.
    """

    __str__ = str.__str__


def choice(name: str, *values: str) -> type[Choice]:
    """A ``Choice`` Enum whose members are ``values``."""
    return Choice(name, [(value, value) for value in values])


Device = choice("Device", "cpu", "cuda", "auto")
Backend = choice("Backend", "auto", "sim", "sc2")
PursuitTarget = choice("PursuitTarget", "fixed", "random")
CriticTrainMode = choice("CriticTrainMode", "seq", "batch")
MetaGrad = choice("MetaGrad", "exact", "reference", "frozen")
AdvantageNormalisation = choice("AdvantageNormalisation", "masked", "padded", "none")
NormalisationGradient = choice("NormalisationGradient", "constant", "differentiable")
MetaGradNormalisation = choice("MetaGradNormalisation", "unit", "none")
MetaGradCentring = choice("MetaGradCentring", "actions", "none")
Lookahead = choice("Lookahead", "rmsprop", "sgd")
SecondOrder = choice("SecondOrder", "autograd", "finite_difference")
EtaOptimiser = choice("EtaOptimiser", "adam", "rmsprop")
ExtrinsicCritic = choice("ExtrinsicCritic", "state", "joint_action")
Optimizer = choice("Optimizer", "rmsprop", "adam")
ReportEpisodes = choice("ReportEpisodes", "test", "train")


def require_positive(prefix: str, obj: object, *names: str) -> None:
    """Raise ``ConfigError`` naming ``<prefix><name>`` for the first of ``names`` that is not positive (the schema
    has already made each an int or a float; ``require_finite`` has refused NaN and inf)."""
    for name in names:
        value = getattr(obj, name)
        if value <= 0:
            raise ConfigError(f"{prefix}{name}={value!r} is not allowed: it must be a positive number")


def require_unit_interval(prefix: str, obj: object, *names: str) -> None:
    """As ``require_positive``, for values that must lie in [0, 1] (discounts, λ)."""
    for name in names:
        value = getattr(obj, name)
        if not 0 <= value <= 1:
            raise ConfigError(f"{prefix}{name}={value!r} is not allowed: it must lie in [0, 1]")


def require_finite(prefix: str, obj: object) -> None:
    """Raise ``ConfigError`` for the first float field, in ``obj`` or its nested schemas, that is NaN or infinite:
    the schema's ``float`` type admits both, and a NaN would surface only later as a NaN loss."""
    for f in fields(obj):
        value = getattr(obj, f.name)
        if is_dataclass(value):
            require_finite(f"{prefix}{f.name}.", value)
        elif isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{prefix}{f.name}={value!r} is not allowed: it must be a finite number")


# --- env group -----------------------------------------------------------------------------------------------


@dataclass
class RuntimeFacts:
    """``env.runtime``: what train.py resolved at run time (the backend that really ran, the game version)."""

    backend: str = MISSING
    sc2_version: str | None = None


@dataclass
class EnvConfig:
    """What every ``env=`` choice has: a name and the factory arguments (``_target_``)."""

    name: str = MISSING
    env_args: Any = MISSING
    runtime: RuntimeFacts | None = None  # set by train.py


@dataclass
class PursuitArgs:
    _target_: str = MISSING
    episode_limit: int = MISSING
    init_low: int = MISSING
    init_high: int = MISSING
    target: PursuitTarget = MISSING
    target_value: int = MISSING
    target_low: int = MISSING
    target_high: int = MISSING
    value_scale: float = MISSING
    reward_scale: float = MISSING


@dataclass
class PursuitEnvConfig(EnvConfig):
    env_args: PursuitArgs = field(default_factory=PursuitArgs)


@dataclass
class SimOptions:
    compile: bool = MISSING


@dataclass
class Sc2Options:
    worker_env: str = MISSING
    step_timeout: float = MISSING
    launch_timeout: float = MISSING
    max_failures: int = MISSING


@dataclass
class SmacArgs:
    """SMAC's constructor arguments (smac-interface.md) plus liir's backend options."""

    _target_: str = MISSING
    backend: Backend = MISSING
    map_name: str = MISSING
    difficulty: str = MISSING
    game_version: str | None = MISSING
    step_mul: int = MISSING
    move_amount: int = MISSING
    continuing_episode: bool = MISSING
    obs_all_health: bool = MISSING
    obs_own_health: bool = MISSING
    obs_last_action: bool = MISSING
    obs_pathing_grid: bool = MISSING
    obs_terrain_height: bool = MISSING
    obs_instead_of_state: bool = MISSING
    obs_timestep_number: bool = MISSING
    state_last_action: bool = MISSING
    state_timestep_number: bool = MISSING
    reward_sparse: bool = MISSING
    reward_only_positive: bool = MISSING
    reward_negative_scale: float = MISSING
    reward_death_value: float = MISSING
    reward_win: float = MISSING
    reward_defeat: float = MISSING
    reward_scale: bool = MISSING
    reward_scale_rate: float = MISSING
    heuristic_ai: bool = MISSING
    heuristic_rest: bool = MISSING
    replay_dir: str = MISSING
    replay_prefix: str = MISSING
    debug: bool = MISSING
    sim: SimOptions = field(default_factory=SimOptions)
    sc2: Sc2Options = field(default_factory=Sc2Options)


@dataclass
class SmacEnvConfig(EnvConfig):
    backend: Backend = MISSING
    env_args: SmacArgs = field(default_factory=SmacArgs)


# --- algo group ----------------------------------------------------------------------------------------------


@dataclass
class AlgoConfig:
    """What every ``algo=`` choice has: a name, the LightningModule (``_target_``) and the shared optimiser keys."""

    name: str = MISSING
    _target_: str = MISSING
    lr: float = MISSING
    optim_alpha: float = MISSING
    optim_eps: float = MISSING
    grad_norm_clip: float = MISSING
    gamma: float = MISSING
    target_update_interval: int = MISSING
    epsilon_start: float = MISSING
    epsilon_finish: float = MISSING
    epsilon_anneal_time: int = MISSING
    rnn_hidden_dim: int = MISSING
    obs_agent_id: bool = MISSING
    obs_last_action: bool = MISSING

    def check(self) -> None:
        require_positive("algo.", self, "lr", "target_update_interval")
        require_unit_interval("algo.", self, "gamma")


@dataclass
class ActorCriticConfig(AlgoConfig):
    """COMA, Central-V, IAC."""

    critic_lr: float = MISSING
    td_lambda: float = MISSING
    critic_train_mode: CriticTrainMode = MISSING
    mask_before_softmax: bool = MISSING
    critic_hidden_dim: int = MISSING

    def check(self) -> None:
        super().check()
        require_positive("algo.", self, "critic_lr")
        require_unit_interval("algo.", self, "td_lambda")


@dataclass
class LiirConfig(ActorCriticConfig):
    eta_lr: float = MISSING
    intrinsic_lambda: float = MISSING
    meta_grad: MetaGrad = MISSING
    r_in_scale: float = MISSING
    advantage_normalisation: AdvantageNormalisation = MISSING
    normalisation_gradient: NormalisationGradient = MISSING
    meta_grad_normalisation: MetaGradNormalisation = MISSING
    meta_grad_centring: MetaGradCentring = MISSING
    lookahead: Lookahead = MISSING
    meta_grad_second_order: SecondOrder = MISSING
    meta_grad_perturbation: float = MISSING
    eta_optimiser: EtaOptimiser = MISSING
    eta_grad_norm_clip: float | None = MISSING
    extrinsic_critic: ExtrinsicCritic = MISSING

    def check(self) -> None:
        super().check()
        require_positive("algo.", self, "eta_lr", "meta_grad_perturbation")


@dataclass
class ReplayConfig:
    """``algo.datamodule`` of the value-based algorithms: an episode replay buffer."""

    _target_: str = MISSING
    buffer_size: int = MISSING
    batch_size: int = MISSING
    updates_per_rollout: int = MISSING
    save_replay_buffer: bool = MISSING

    def check(self) -> None:
        require_positive("algo.datamodule.", self, "batch_size", "buffer_size", "updates_per_rollout")
        if self.buffer_size < self.batch_size:
            raise ConfigError(
                f"algo.datamodule.buffer_size={self.buffer_size} is not allowed: it must be at least "
                f"algo.datamodule.batch_size={self.batch_size}"
            )


@dataclass
class VDNMixerConfig:
    _target_: str = MISSING
    _partial_: bool = MISSING  # the learner adds n_agents and state_dim


@dataclass
class QMixerConfig(VDNMixerConfig):
    mixing_embed_dim: int = MISSING
    hypernet_layers: int = MISSING
    hypernet_embed: int = MISSING

    def check(self) -> None:
        """An int choice, checked here: an int-valued Enum would reach QMixer as its name under enum_to_str."""
        if self.hypernet_layers not in HYPERNET_LAYERS:
            raise ConfigError(
                f"algo.mixer.hypernet_layers={self.hypernet_layers!r} is not allowed; use one of "
                f"{', '.join(map(str, HYPERNET_LAYERS))}"
            )


@dataclass
class QLearnerConfig(AlgoConfig):
    """IQL (no mixer); VDN and QMIX narrow ``mixer`` to their mixer's keys."""

    optimizer: Optimizer = MISSING
    td_lambda: float = MISSING
    double_q: bool = MISSING
    mixer: Any = None
    datamodule: ReplayConfig = field(default_factory=ReplayConfig)

    def check(self) -> None:
        super().check()
        require_unit_interval("algo.", self, "td_lambda")
        self.datamodule.check()


@dataclass
class VDNConfig(QLearnerConfig):
    mixer: VDNMixerConfig = field(default_factory=VDNMixerConfig)


@dataclass
class QMixConfig(QLearnerConfig):
    mixer: QMixerConfig = field(default_factory=QMixerConfig)

    def check(self) -> None:
        super().check()
        self.mixer.check()


# --- the run -------------------------------------------------------------------------------------------------


@dataclass
class RunConfig:
    """``conf/config.yaml``: run-level keys (pymarl's names) and the groups. ``logger``, ``trainer`` and
    ``callbacks`` hold ``_target_`` arguments that their classes (Lightning's, liir's) check themselves."""

    seed: int = MISSING
    device: Device = MISSING
    torch_threads: int | None = MISSING
    t_max: int = MISSING
    batch_size_run: int = MISSING
    test_interval: int = MISSING
    test_nepisode: int = MISSING
    log_interval: int = MISSING
    save_model: bool = MISSING
    save_model_interval: int = MISSING
    ckpt_path: str | None = MISSING
    overwrite: bool = MISSING
    env: EnvConfig = MISSING
    algo: AlgoConfig = MISSING
    logger: dict[str, Any] = MISSING
    trainer: dict[str, Any] = MISSING
    callbacks: dict[str, Any] = MISSING

    def check(self) -> None:
        require_positive(
            "", self, "t_max", "batch_size_run", "test_interval", "test_nepisode", "log_interval", "save_model_interval"
        )
        if self.torch_threads is not None:
            require_positive("", self, "torch_threads")
        self.algo.check()
        if isinstance(self.algo, QLearnerConfig) and self.algo.datamodule.buffer_size < self.batch_size_run:
            raise ConfigError(
                f"algo.datamodule.buffer_size={self.algo.datamodule.buffer_size} is not allowed: it "
                f"must be at least batch_size_run={self.batch_size_run}"
            )


@dataclass
class EvaluateConfig:
    """``conf/evaluate.yaml``; null means the checkpoint's own value."""

    ckpt_path: str = MISSING
    test_nepisode: int | None = MISSING
    eval_path: str | None = MISSING
    device: Device | None = MISSING
    seed: int | None = MISSING
    save_replay: bool = MISSING
    render: bool = MISSING
    render_episodes: int = MISSING

    def check(self) -> None:
        require_positive("", self, "render_episodes")
        if self.test_nepisode is not None:
            require_positive("", self, "test_nepisode")
        if self.render and self.test_nepisode is not None and self.render_episodes > self.test_nepisode:
            raise ConfigError(too_many_renders(self.render_episodes, self.test_nepisode))


def too_many_renders(render_episodes: int, test_nepisode: int) -> str:
    return (
        f"render_episodes={render_episodes} is not allowed: it must be at most the {test_nepisode} test episodes "
        f"played (test_nepisode)"
    )


@dataclass
class ReportConfig:
    """``conf/report.yaml``: the options of ``python -m liir.report`` (given after the run directories)."""

    out: str = MISSING
    threshold: float = MISSING
    final_tests: int = MISSING
    confidence: float = MISSING
    reps: int = MISSING
    bootstrap_seed: int = MISSING
    wandb: bool = MISSING
    wandb_project: str = MISSING
    compare: str | None = MISSING
    episodes: ReportEpisodes = MISSING

    def check(self) -> None:
        require_positive("", self, "reps", "final_tests")
        require_unit_interval("", self, "threshold")
        if not 0 < self.confidence < 1:
            raise ConfigError(f"confidence={self.confidence!r} is not allowed: it must lie strictly between 0 and 1")


def validate(cfg: DictConfig) -> None:
    """Raise ``ConfigError`` for a missing value or the first value outside its constraints (types and choices
    Hydra checked already while composing)."""
    try:
        config = OmegaConf.to_object(cfg)
    except MissingMandatoryValue as exc:
        raise ConfigError(f"{exc.full_key} is missing: give it on the command line ({exc.full_key}=...)") from exc
    assert isinstance(config, RunConfig | EvaluateConfig | ReportConfig), (
        "a config composed from conf/, which names its schema"
    )
    require_finite("", config)
    config.check()


def plain(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config as plain dicts, strings and numbers (choices as their strings): what checkpoints,
    W&B and the constructors receive."""
    return OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)


def register_schemas() -> None:
    store = ConfigStore.instance()
    store.store(group="schema", name="run", node=RunConfig)
    store.store(group="schema", name="evaluate", node=EvaluateConfig)
    store.store(group="schema", name="report", node=ReportConfig)
    store.store(group="schema/env", name="pursuit1d", node=PursuitEnvConfig)
    store.store(group="schema/env", name="smac", node=SmacEnvConfig)
    for name, node in (
        ("actor_critic", ActorCriticConfig),
        ("liir", LiirConfig),
        ("iql", QLearnerConfig),
        ("vdn", VDNConfig),
        ("qmix", QMixConfig),
    ):
        store.store(group="schema/algo", name=name, node=node)


register_schemas()
