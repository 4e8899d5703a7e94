"""``SmacSim``: B SMAC battles as tensors, speaking liir's batched environment protocol.

One env step turns the agents' actions into SC2 orders exactly as SMAC issues them, runs ``step_mul``
game loops of ``Mechanics``, then scores the step and builds SMAC's features. Protocol mapping:
``terminated`` is pymarl's learner flag (a battle outcome, or the time limit unless
``continuing_episode``), ``episode_limit`` says the time limit was reached this step.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import hashlib
import logging
from collections.abc import Callable
from pathlib import Path

import torch
from torch._inductor.runtime.cache_dir_utils import cache_dir

from liir.envs.base import BatchedEnv, EnvInfo, EnvOutput, check_actions_available, unavailable_choices
from liir.envs.smac.maps import get_map
from liir.envs.smac.sim import rng
from liir.envs.smac.sim.config import N_ACTIONS_NO_ATTACK, Layout, SmacConfig
from liir.envs.smac.sim.features import Features
from liir.envs.smac.sim.heuristic import heuristic_actions
from liir.envs.smac.sim.mechanics import Mechanics
from liir.envs.smac.sim.pathing import FlowField
from liir.envs.smac.sim.reward import Outcome, Scorer
from liir.envs.smac.sim.roster import Roster
from liir.envs.smac.sim.state import Order, SimState, Units, batch_last
from liir.envs.smac.terrain import terrain

_MOVES = torch.tensor([[0.0, 1.0], [0.0, -1.0], [1.0, 0.0], [-1.0, 0.0]])  # N, S, E, W
_GOAL_SALT = 0x6A09E6
_JITTER_SALT = 0x51ED27
# torch.compile keeps one compiled step per (map, batch size) and falls back to eager past its recompile
# limit (8): a Hydra grid runs its jobs in one process, so it can see many more.
RECOMPILE_LIMIT = 64
log = logging.getLogger(__name__)
_ANNOUNCED: set[str] = set()  # the compile keys whose first build this process has announced


class SimCompileError(RuntimeError):
    """``compile=True`` was asked for but torch.compile failed on this machine."""


class SmacSim(BatchedEnv):
    """The built-in SMAC simulator (``backend="sim"``): see the module docstring."""

    def __init__(
        self,
        batch_size: int,
        device: str | torch.device,
        seed: int,
        map_name: str,
        compile: bool = False,
        eager_fallback: bool = False,
        **smac_kwargs: object,
    ) -> None:
        self.map = get_map(map_name)
        self.cfg = SmacConfig(**smac_kwargs)  # unknown keyword -> TypeError, as SMAC
        self.device = torch.device(device)
        self.layout = lay = Layout.build(self.map, self.cfg)
        ter = terrain(self.map.terrain)
        pathable = torch.from_numpy(ter.pathable).to(self.device)
        self.roster = Roster.build(self.map, ter, self.device)
        flow = None if ter.box is not None else FlowField(self.map.terrain, self.device)
        self.mechanics = Mechanics(
            self.roster, pathable, ter.box, flow, self.map.order.kind == "hunt", self.cfg.cooldown_jitter
        )
        self.features = Features(
            self.roster, lay, self.cfg, self.map.limit, pathable, torch.from_numpy(ter.height).to(self.device)
        )
        self.scorer = Scorer(self.roster, self.cfg, self.map.limit, self.map.map_type == "MMM")
        self.keys = rng.env_keys(seed, batch_size, self.device)
        self.moves = _MOVES.to(self.device) * float(self.cfg.move_amount)
        # the hot path: one env step with its features (torch.compile fuses them; about a minute to compile)
        self._use_eager()
        if compile:
            key = _compile_key(map_name, batch_size, self.device, self.cfg)
            self._step, self._features, self._reset = (
                self._compiled(fn, key, eager_fallback)
                for fn in (self._step_impl, self._features_impl, self._reset_impl)
            )
        order = self.map.order
        self._goal_segment = (
            tuple(torch.tensor(p, device=self.device) for p in (order.point, order.point2))
            if order.kind == "attack_move_between"
            else None
        )
        self._template = self._spawn_template(batch_size)
        self._spawn_features = self._features_impl(self._template)  # every copy's features right after a reset
        self.state = dataclasses.replace(self._template, done=torch.ones_like(self._template.done))
        self._last_features = self._features_impl(self.state)
        self.avail = self._last_features[0] > 0
        self.info = EnvInfo(
            n_agents=lay.n_agents,
            n_actions=lay.n_actions,
            obs_shape=lay.obs_len,
            state_shape=lay.state_len,
            episode_limit=self.map.limit,
            batch_size=batch_size,
            device=self.device,
            metadata={
                "map_name": map_name,
                "backend": "sim",
                "n_enemies": lay.n_enemies,
                "unit_types": self.roster.names,
                "max_reward": self.scorer.max_reward,
                "agent_features": self.agent_features(),
                "enemy_features": self.enemy_features(),
            },
        )

    def _use_eager(self) -> None:
        self._step, self._features, self._reset = self._step_impl, self._features_impl, self._reset_impl

    def _compiled(self, fn: Callable, key: str, eager_fallback: bool) -> Callable:
        """``fn`` compiled for fixed shapes; the C++ wrapper removes Python overhead between the small kernels.

        Compilation happens at the first call and is announced when no earlier process built ``fn`` for ``key``
        (inductor's on-disk cache makes later builds take seconds). Dynamo's cache is per function, so later
        instances with the same map and batch size reuse the build. When it fails (e.g. no C++ compiler),
        ``SimCompileError`` says how to run without it, or with ``eager_fallback`` one warning says the
        simulator runs uncompiled from then on.
        """
        torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, RECOMPILE_LIMIT)
        compiled = torch.compile(fn, dynamic=False, options={"cpp_wrapper": True})
        marker = Path(cache_dir()) / "liir" / f"{key}-{fn.__name__}"
        built = False

        def call(*args: object) -> object:
            nonlocal built
            if not built and key not in _ANNOUNCED and not marker.exists():
                _ANNOUNCED.add(key)
                log.warning("compiling the %s step, about a minute, once", self.map.name)
            try:
                result = compiled(*args)
            except torch._dynamo.exc.BackendCompilerFailed as error:
                cause = error.inner_exception
                failed = f"torch.compile could not build the simulator step ({type(cause).__name__}: {cause})"
                if not eager_fallback:
                    raise SimCompileError(f"{failed}; run without it with env.env_args.sim.compile=false") from error
                log.warning("%s; running it uncompiled (about 15x slower)", failed)
                self._use_eager()
                return fn(*args)
            if not built:
                with contextlib.suppress(OSError):  # a read-only cache costs a repeated announcement, no more
                    marker.parent.mkdir(parents=True, exist_ok=True)
                    marker.touch()
                built = True
            return result

        return call

    def agent_features(self) -> list[str]:
        """SMAC's ``ally_state_attr_names``."""
        names = ["health", "energy/cooldown", "rel_x", "rel_y"] + ["shield"] * self.layout.shield_ally
        return names + [f"type_{i}" for i in range(self.layout.utb)]

    def enemy_features(self) -> list[str]:
        """SMAC's ``enemy_state_attr_names``."""
        names = ["health", "rel_x", "rel_y"] + ["shield"] * self.layout.shield_enemy
        return names + [f"type_{i}" for i in range(self.layout.utb)]

    @property
    def done(self) -> torch.Tensor:
        return self.state.done

    # -- episode start ---------------------------------------------------------------------------------
    def _spawn_template(self, batch_size: int) -> SimState:
        """Copies at spawn with the map script's enemy order issued (built once, never mutated)."""
        st = SimState.spawn(self.roster, batch_size, self.layout.n_actions, self.device)
        enemy = ~self.roster.is_ally
        st.order = batch_last(torch.where(enemy, Order.ATTACK_MOVE, Order.IDLE).expand_as(st.order))
        if self.map.order.kind == "attack_move":
            st.goal[:, self.roster.n_agents :] = torch.tensor(self.map.order.point, device=self.device)
        return st

    def reset(self, mask: torch.Tensor | None = None) -> EnvOutput:
        mask = torch.ones_like(self.state.done) if mask is None else mask.to(self.device, torch.bool)
        self.state, features = self._reset(self.state, mask, self._last_features)
        return self._quiet_output(features)

    def _reset_impl(
        self, state: SimState, mask: torch.Tensor, last_features: tuple[torch.Tensor, ...]
    ) -> tuple[SimState, tuple[torch.Tensor, ...]]:
        """``state`` with the ``mask`` copies back at spawn, and the features to show, as one function for the
        compiler. Reset copies show the spawn features, the others those of their last step: nothing to
        recompute."""
        fresh = dataclasses.replace(self._template, episode=state.episode + 1, ticks=state.ticks)
        if self._goal_segment is not None:  # attack_move_between: a random point on the segment, per episode
            a, b = self._goal_segment
            u = rng.uniform(self.keys, state.episode, 1, _GOAL_SALT)
            goal = fresh.goal.clone()
            goal[:, self.roster.n_agents :] = (a + u * (b - a)).unsqueeze(1)
            fresh.goal = goal
        features = tuple(
            torch.where(mask.view(-1, *([1] * (spawn.dim() - 1))), spawn, last)
            for spawn, last in zip(self._spawn_features, last_features, strict=True)
        )
        return state.blend(mask, fresh), features

    def observe(self) -> EnvOutput:
        """Features of the current state with zero reward and flags (after an edit of ``state``)."""
        return self._quiet_output(self._features(self.state))

    def _quiet_output(self, features: tuple[torch.Tensor, ...]) -> EnvOutput:
        zeros = torch.zeros_like(self.state.done)
        return self._output(features, torch.zeros(self.info.batch_size, device=self.device), zeros, zeros, zeros)

    # -- stepping -------------------------------------------------------------------------------------
    def step(self, actions: torch.Tensor) -> EnvOutput:
        old = self.state
        actions = submitted = actions.to(self.device, torch.long)
        heuristic_target = old.heuristic_target
        if self.cfg.heuristic_ai:
            actions, heuristic_target = heuristic_actions(old, self.roster, self.avail, self.cfg.heuristic_rest)
        new, out, terminated, features, illegal = self._step(old, actions, submitted, heuristic_target, self.avail)
        if not self.cfg.heuristic_ai and bool(illegal):  # nothing is committed yet: name env, agent and action
            check_actions_available(actions, self.avail, ~old.done)
        self.last_actions = actions
        self.state = new
        return self._output(features, out.reward, terminated, out.timeout, out.won)

    def _step_impl(
        self,
        old: SimState,
        actions: torch.Tensor,
        submitted: torch.Tensor,
        heuristic_target: torch.Tensor,
        avail: torch.Tensor,
    ) -> tuple[SimState, Outcome, torch.Tensor, tuple[torch.Tensor, ...], torch.Tensor]:
        """``_transition``, the new state's features and whether a running copy chose an unavailable action,
        as one function for the compiler."""
        st, out, terminated = self._transition(old, actions, submitted, heuristic_target)
        illegal = unavailable_choices(actions, avail, ~old.done).any()
        return st, out, terminated, self._features_impl(st), illegal

    def _transition(
        self, old: SimState, actions: torch.Tensor, submitted: torch.Tensor, heuristic_target: torch.Tensor
    ) -> tuple[SimState, Outcome, torch.Tensor]:
        """One env step of every running copy: (new state, outcome masked to running copies, terminated).

        ``actions`` are carried out; ``submitted`` are the agents' own (they differ under ``heuristic_ai``) and
        become ``last_action``, as SMAC records them before the heuristic overrides them."""
        active = ~old.done
        st = self._run_loops(old, self._issue(Units.of(old), actions.t()))
        st.steps = old.steps + 1
        st.last_action = torch.nn.functional.one_hot(submitted, self.layout.n_actions).float()
        st.heuristic_target = heuristic_target
        out = self.scorer(old.health, old.shield, st.health, st.shield, st.steps)
        st.done = out.battle_over | out.timeout
        masked = Outcome(
            *(
                getattr(out, f) & active if f != "reward" else out.reward * active
                for f in ("reward", "won", "lost", "draw", "timeout")
            )
        )
        terminated = masked.battle_over | (masked.timeout & (not self.cfg.continuing_episode))
        return old.blend(active, st), masked, terminated

    def _run_loops(self, st: SimState, units: Units) -> SimState:
        """``step_mul`` game loops from ``units`` (``st``'s unit fields after the orders were issued)."""
        b, u = st.health.shape
        loops = self.cfg.step_mul
        noise = rng.uniform(self.keys, st.ticks, loops * u, _JITTER_SALT).view(b, loops, u).permute(1, 2, 0)
        for i in range(loops):
            units = self.mechanics.loop(units, noise[i])
        return units.into(st, st.ticks + loops)

    def _issue(self, u: Units, actions: torch.Tensor) -> Units:
        """SMAC's commands (``actions`` (N, B)): stop, move to pos +- move_amount, attack enemy j / heal ally j."""
        n = self.roster.n_agents
        alive = u.health[:n] > 0
        is_move = (actions >= 2) & (actions < N_ACTIONS_NO_ATTACK)
        is_target = actions >= N_ACTIONS_NO_ATTACK
        medivac = self.roster.ally_medivac.unsqueeze(-1)
        j = (actions - N_ACTIONS_NO_ATTACK).clamp(min=0)
        order = torch.where(actions == 1, Order.IDLE, u.order[:n])
        order = torch.where(is_move, Order.MOVE, order)
        order = torch.where(is_target, torch.where(medivac, Order.HEAL, Order.ATTACK), order)
        target = torch.where(is_target, torch.where(medivac, j, j + n), -1)
        target = torch.where(actions == 0, u.target[:n], target)
        k = (actions - 2).clamp(0, 3)
        goal_x = torch.where(is_move, u.x[:n] + self.moves[k, 0], u.goal_x[:n])
        goal_y = torch.where(is_move, u.y[:n] + self.moves[k, 1], u.goal_y[:n])

        def issued(new: torch.Tensor, old: torch.Tensor) -> torch.Tensor:
            return torch.cat([torch.where(alive, new, old[:n]), old[n:]], 0)

        return dataclasses.replace(
            u,
            order=issued(order, u.order),
            target=issued(target, u.target),
            goal_x=issued(goal_x, u.goal_x),
            goal_y=issued(goal_y, u.goal_y),
        )

    def _features_impl(self, st: SimState) -> tuple[torch.Tensor, ...]:
        """(avail as float 0/1, obs, state, dead allies, dead enemies) of a state."""
        avail, obs, state = self.features.all(st)
        dead = st.health <= 0
        n = self.roster.n_agents
        return avail, obs, state, dead[:, :n].sum(1), dead[:, n:].sum(1)

    def _output(
        self,
        features: tuple[torch.Tensor, ...],
        reward: torch.Tensor,
        terminated: torch.Tensor,
        limit: torch.Tensor,
        won: torch.Tensor,
    ) -> EnvOutput:
        self._last_features = features
        avail, obs, state, dead_allies, dead_enemies = features
        self.avail = avail > 0  # made here, outside the compiled functions: see ``Features.all``
        return EnvOutput(
            obs=obs,
            state=state,
            avail_actions=self.avail,
            reward=reward,
            terminated=terminated,
            episode_limit=limit,
            battle_won=won,
            dead_allies=dead_allies,
            dead_enemies=dead_enemies,
        )


@functools.cache
def _source_digest() -> str:
    """Digest of the SMAC package's sources: a code change invalidates the compile markers as it does the build."""
    files = sorted(Path(__file__).resolve().parents[1].rglob("*.py"))
    return hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()


def _compile_key(map_name: str, batch_size: int, device: torch.device, cfg: SmacConfig) -> str:
    """What a compiled build depends on, as a file name."""
    parts = (torch.__version__, _source_digest(), map_name, batch_size, device.type, repr(cfg))
    return f"{map_name}-b{batch_size}-" + hashlib.sha256(repr(parts).encode()).hexdigest()[:16]
