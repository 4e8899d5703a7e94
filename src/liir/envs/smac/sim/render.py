"""Pictures of simulated SMAC battles (LIIR's Figures 4 and 5), drawn from the simulator's state.

One drawing routine, ``draw_state``, serves every picture: ``StarCraft2Env.render`` (one frame of the current
state), the battle GIF (one frame per state of an episode, optionally with per-agent curves advancing beside
it) and the per-agent traces figure (a curve with each agent's health, shield, actions and death).
``BattleRecorder`` wraps a ``SmacSim`` and keeps the states of every copy while a runner plays it; an
unwrapped simulator records nothing, so rendering costs nothing unless asked for.

Everything is headless: matplotlib's object-oriented API on its Agg canvas (no pyplot, no window), frames
written with Pillow.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.lines import Line2D
from matplotlib.patches import Circle, Patch, Rectangle
from PIL import Image

from liir.envs.base import BatchedEnv, EnvOutput
from liir.envs.smac.maps import MapParams
from liir.envs.smac.sim.config import N_ACTIONS_NO_ATTACK
from liir.envs.smac.sim.core import SmacSim
from liir.envs.smac.sim.roster import Roster
from liir.envs.smac.sim.state import Order, SimState
from liir.envs.smac.terrain import MAP_SIZE, terrain

View = tuple[float, float, float, float]  # x0, x1, y0, y1 in world units

PANEL_INCHES = 4.8  # each panel (the battle, the curves) is this many inches square
DPI = 100  # GIF frames: 480 px per panel
FRAME_DPI = 100  # ``render(mode="rgb_array")``: 480 px wide
TITLE_INCHES = 0.3  # room for the title above ``render``'s frame
STEP_MS = 200  # how long one env step shows in the GIF
HOLD_MS = 2000  # the last frame (the outcome) shows this long
GIF_COLOURS = 128  # one palette for every frame of a GIF, taken from its first, middle and last frame
MIN_VIEW = 12.0  # the battle view of an episode spans at least this many world units
VIEW_MARGIN = 2.0  # free space around the units' extent
_ENEMY = "#d62728"
_ENEMY_EDGE = "#7f1010"
_AGENT_EDGE = "#1a3d7c"
_DEAD = "#b0b0b0"
_HEALTH = "#2ca02c"
_SHIELD = "#1f77b4"
_HEAL_LINE = "#17becf"
_ATTACK_SHADE = "#ff9896"
_MOVE_SHADE = "#aec7e8"
_RECORDED = ("pos", "health", "shield", "order", "target", "steps", "last_action")


class RenderError(ValueError):
    """The environment has no simulator state to draw (the pursuit game, the real game)."""


@dataclass(frozen=True)
class Scene:
    """What stays fixed during a battle: the map's terrain and every unit's kind (U = agents + enemies)."""

    map_name: str
    n_agents: int
    names: list[str]
    radius: np.ndarray  # (U,)
    health_max: np.ndarray  # (U,)
    shield_max: np.ndarray  # (U,)
    reach: np.ndarray  # (U,) weapon range, or heal range for healers (edge to edge)
    healer: np.ndarray  # (U,) bool
    pathable: np.ndarray  # (32, 32) bool, [x, y]
    height: np.ndarray  # (32, 32) float, [x, y]

    @staticmethod
    def of(sim: SmacSim) -> Scene:
        return Scene.build(sim.map, sim.roster)

    @staticmethod
    def build(m: MapParams, r: Roster) -> Scene:
        """The scene of map ``m`` with its unit tables ``r`` (no simulator needed)."""
        ter = terrain(m.terrain)

        def cpu(t: torch.Tensor) -> np.ndarray:
            return t.cpu().numpy()

        return Scene(
            map_name=m.name,
            n_agents=r.n_agents,
            names=list(r.names),
            radius=cpu(r.radius),
            health_max=cpu(r.health_max),
            shield_max=cpu(r.shield_max),
            reach=cpu(torch.where(r.healer, r.heal_range, r.weapon_range)),
            healer=cpu(r.healer),
            pathable=ter.pathable,
            height=ter.height,
        )

    @property
    def map_view(self) -> View:
        """The bounding box of the pathable cells."""
        xs, ys = np.nonzero(self.pathable)
        return float(xs.min()), float(xs.max() + 1), float(ys.min()), float(ys.max() + 1)


@dataclass(frozen=True)
class Battle:
    """One copy's states over an episode of L steps, time first: K = L + 1 states (the start and after each
    step), and the L joint actions taken (SMAC's action ids)."""

    pos: np.ndarray  # (K, U, 2)
    health: np.ndarray  # (K, U)
    shield: np.ndarray  # (K, U)
    order: np.ndarray  # (K, U) ``Order``
    target: np.ndarray  # (K, U) unit index, -1 for none
    actions: np.ndarray  # (L, N)

    @property
    def n_states(self) -> int:
        return self.health.shape[0]

    @staticmethod
    def of(states: dict[str, torch.Tensor], copy: int, length: int) -> Battle:
        """Copy ``copy``'s first ``length`` + 1 states from ``states`` (each field stacked as (K, B, ...))."""

        def take(name: str) -> np.ndarray:
            return states[name][: length + 1, copy].cpu().numpy()

        return Battle(
            pos=take("pos"),
            health=take("health"),
            shield=take("shield"),
            order=take("order"),
            target=take("target"),
            actions=states["last_action"][1 : length + 1, copy].argmax(-1).cpu().numpy(),
        )

    @staticmethod
    def now(state: SimState, copy: int = 0) -> Battle:
        """The current state of one copy, as a one-state battle."""
        return Battle.of({name: getattr(state, name).unsqueeze(0) for name in _RECORDED}, copy, 0)

    def death_steps(self) -> np.ndarray:
        """(U,) the first state index at which each unit is dead, -1 for survivors."""
        dead = self.health <= 0
        return np.where(dead.any(0), dead.argmax(0), -1)

    def view(self, within: View) -> View:
        """A square view around everything the units cover during the episode, cut to ``within`` (the
        pathable area: no need to show the void beyond it)."""
        lo, hi = self.pos.min((0, 1)), self.pos.max((0, 1))
        centre = (lo + hi) / 2
        half = max(float((hi - lo).max()) / 2 + VIEW_MARGIN, MIN_VIEW / 2)
        x0, x1 = max(centre[0] - half, within[0]), min(centre[0] + half, within[1])
        y0, y1 = max(centre[1] - half, within[2]), min(centre[1] + half, within[3])
        return float(x0), float(x1), float(y0), float(y1)


class BattleRecorder(BatchedEnv):
    """Wraps a ``SmacSim`` and keeps the states of every copy of every batch of episodes played on it.

    Every ``reset`` of the whole batch starts a new batch of recordings; ``battles()`` cuts each copy's
    recording at the end of its episode (the simulator freezes ended copies).
    """

    def __init__(self, env: BatchedEnv) -> None:
        if not isinstance(env, SmacSim):
            backend = env.info.metadata.get("backend", "native")
            raise RenderError(
                f"render=true draws the built-in SMAC simulator's state; this run's environment "
                f"({type(env).__name__}, backend={backend}) has none: render a SMAC run on the simulator "
                f"(env.backend=sim)"
            )
        self.env = env
        self.info = env.info
        self._batches: list[list[dict[str, torch.Tensor]]] = []

    @property
    def done(self) -> torch.Tensor:
        return self.env.done

    def scene(self) -> Scene:
        return Scene.of(self.env)

    def reset(self, mask: torch.Tensor | None = None) -> EnvOutput:
        if mask is not None and not bool(mask.all()):
            raise ValueError("BattleRecorder records whole batches of episodes: reset every copy at once")
        out = self.env.reset()
        self._batches.append([self._snapshot()])
        return out

    def step(self, actions: torch.Tensor) -> EnvOutput:
        out = self.env.step(actions)
        self._batches[-1].append(self._snapshot())
        return out

    def _snapshot(self) -> dict[str, torch.Tensor]:
        return {name: getattr(self.env.state, name).to("cpu", copy=True) for name in _RECORDED}

    def battles(self) -> list[Battle]:
        """Every recorded episode, batch by batch and copy by copy."""
        out = []
        for batch in self._batches:
            states = {name: torch.stack([s[name] for s in batch]) for name in _RECORDED}
            lengths = states["steps"][-1].tolist()
            out.extend(Battle.of(states, b, length) for b, length in enumerate(lengths))
        return out

    def rng_state(self) -> Any:
        return self.env.rng_state()

    def load_rng_state(self, state: Any) -> None:
        self.env.load_rng_state(state)

    def counters(self) -> dict[str, float]:
        return self.env.counters()

    def close(self) -> None:
        self.env.close()


# -- drawing -------------------------------------------------------------------------------------------------


def agent_colours(n_agents: int) -> list[tuple[float, ...]]:
    """One colour per agent, none of them the enemies' red: tab10 without red, or viridis for many agents."""
    if n_agents <= 9:
        tab10 = colormaps["tab10"].colors
        return [c for i, c in enumerate(tab10) if i != 3][:n_agents]
    return [tuple(c) for c in colormaps["viridis"](np.linspace(0.0, 0.9, n_agents))]


def terrain_image(scene: Scene) -> np.ndarray:
    """(32, 32, 3) RGB indexed [y, x]: unpathable cells dark, pathable ones lighter the lower they lie."""
    shade = np.where(scene.pathable, 0.95 - 0.25 * scene.height, 0.3)
    return np.repeat(shade.T[:, :, None], 3, axis=2)


def battle_axes(ax: Axes, scene: Scene, view: View) -> None:
    """The still part of a battle picture: the terrain, seen through ``view``, without ticks."""
    ax.imshow(terrain_image(scene), origin="lower", extent=(0, MAP_SIZE, 0, MAP_SIZE), interpolation="nearest")
    ax.set_xlim(view[0], view[1])
    ax.set_ylim(view[2], view[3])
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])


def draw_state(ax: Axes, scene: Scene, battle: Battle, k: int, title: str) -> None:
    """State ``k`` of ``battle`` on a ``battle_axes``: attack and heal lines (solid within reach, dotted while
    closing in), units at their radius (agents in their colours with their ids, enemies red, the dead grey),
    health and shield bars. ``clear_moving`` removes them again."""
    ax.set_title(title, fontsize=9)
    alive = battle.health[k] > 0
    colours = agent_colours(scene.n_agents)
    n = scene.n_agents
    for u in np.flatnonzero(alive & (battle.target[k] >= 0)):
        _draw_target_line(ax, scene, battle, k, u, colours[u] if u < n else _ENEMY_EDGE)
    x0, x1 = ax.get_xlim()
    scale = (x1 - x0) / MIN_VIEW  # bars keep their size on screen as the view grows
    for u in range(len(scene.names)):
        _draw_unit(ax, scene, battle, k, u, colours[u] if u < n else _ENEMY, scale)


def clear_moving(ax: Axes) -> None:
    """Remove what ``draw_state`` or ``draw_curves`` drew, keeping the axes (redrawing them costs more)."""
    for artist in [*ax.patches, *ax.lines, *ax.texts]:
        artist.remove()


def _draw_target_line(ax: Axes, scene: Scene, battle: Battle, k: int, u: int, colour: Any) -> None:
    order, t = battle.order[k, u], battle.target[k, u]
    if order not in (Order.ATTACK, Order.ATTACK_MOVE, Order.HEAL) or battle.health[k, t] <= 0:
        return
    (x, y), (tx, ty) = battle.pos[k, u], battle.pos[k, t]
    in_reach = np.hypot(tx - x, ty - y) - scene.radius[u] - scene.radius[t] <= scene.reach[u] + 1e-3
    heal = bool(scene.healer[u])
    ax.plot(
        [x, tx],
        [y, ty],
        color=_HEAL_LINE if heal else colour,
        linewidth=1.6 if in_reach else 0.9,
        linestyle="-" if in_reach else ":",
        zorder=2,
    )


def _draw_unit(ax: Axes, scene: Scene, battle: Battle, k: int, u: int, colour: Any, scale: float) -> None:
    (x, y), r = battle.pos[k, u], float(scene.radius[u])
    agent = u < scene.n_agents
    alive = battle.health[k, u] > 0
    if agent:  # the id left of the unit (agents face east): inside, it would be unreadable on small units
        ax.text(x - r - 0.08 * scale, y, str(u), ha="right", va="center", fontsize=7, color=_AGENT_EDGE, zorder=7)
    if not alive:
        ax.add_artist(Circle((x, y), r, facecolor=_DEAD, edgecolor="#808080", alpha=0.6, zorder=3))
        return
    edge = _AGENT_EDGE if agent else _ENEMY_EDGE
    ax.add_artist(Circle((x, y), r, facecolor=colour, edgecolor=edge, linewidth=1.2, zorder=3))
    width, bar = max(2 * r, 0.9), 0.16 * scale
    left, base = x - width / 2, y + r + 0.1 * scale
    bars = [(battle.health[k, u] / scene.health_max[u], _HEALTH)]
    if scene.shield_max[u] > 0:
        bars.append((battle.shield[k, u] / scene.shield_max[u], _SHIELD))
    for i, (fraction, fill) in enumerate(bars):
        y0 = base + i * (bar + 0.04 * scale)
        ax.add_artist(Rectangle((left, y0), width, bar, facecolor="#404040", edgecolor="none", zorder=5))
        ax.add_artist(Rectangle((left, y0), width * float(fraction), bar, facecolor=fill, edgecolor="none", zorder=6))


def curve_axes(ax: Axes, scene: Scene, battle: Battle, values: np.ndarray, label: str) -> None:
    """The still part of the curves panel: limits for the whole episode (so that they stay put in a GIF),
    labels and, for up to 10 agents, the legend."""
    ax.set_xlim(0, max(values.shape[0], 1))
    ax.set_ylim(*_padded_range(alive_values(battle, values)))
    ax.set_xlabel("env step")
    ax.set_ylabel(label)
    if scene.n_agents <= 10:
        colours = agent_colours(scene.n_agents)
        handles = [Line2D([], [], color=colours[a], label=f"agent {a}") for a in range(scene.n_agents)]
        ax.legend(handles=handles, fontsize=7, loc="upper right")


def draw_curves(ax: Axes, scene: Scene, battle: Battle, values: np.ndarray, k: int) -> None:
    """On a ``curve_axes``: each agent's ``values`` (L, N) of the steps taken from states 0..k, blank once it is
    dead, with an x at its last step alive and a cursor at state ``k``."""
    upto = min(k, values.shape[0] - 1)
    shown = alive_values(battle, values)
    colours = agent_colours(scene.n_agents)
    deaths = battle.death_steps()
    steps = np.arange(values.shape[0])
    for a in range(scene.n_agents):
        ax.plot(steps[: upto + 1], shown[: upto + 1, a], color=colours[a], linewidth=1.3)
        if 0 < deaths[a] <= k and np.isfinite(shown[deaths[a] - 1, a]):
            ax.plot(deaths[a] - 1, shown[deaths[a] - 1, a], marker="x", color=colours[a], markersize=8)
    ax.axvline(k, color="#606060", linewidth=0.8)


def alive_values(battle: Battle, values: np.ndarray) -> np.ndarray:
    """``values`` (L, N) as floats, NaN at the steps an agent took while dead (SMAC's forced no-op)."""
    n = values.shape[1]
    return np.where(battle.health[:-1, :n] > 0, values.astype(float), np.nan)


def _padded_range(values: np.ndarray) -> tuple[float, float]:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return -1.0, 1.0
    low, high = float(finite.min()), float(finite.max())
    pad = max(high - low, 1e-6) * 0.08
    return low - pad, high + pad


def _canvas_rgb(fig: Figure) -> np.ndarray:
    canvas = FigureCanvasAgg(fig) if not isinstance(fig.canvas, FigureCanvasAgg) else fig.canvas
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[:, :, :3].copy()


def rgb_frame(scene: Scene, battle: Battle, title: str) -> np.ndarray:
    """(H, W, 3) uint8 picture of ``battle``'s first state over the map's pathable area, ``FRAME_DPI`` *
    ``PANEL_INCHES`` pixels wide and as high as the area's aspect asks (plus a title line)."""
    view = scene.map_view
    plot_height = PANEL_INCHES * (view[3] - view[2]) / (view[1] - view[0])
    height = plot_height + TITLE_INCHES
    fig = Figure(figsize=(PANEL_INCHES, height), dpi=FRAME_DPI)
    ax = fig.add_axes((0.0, 0.0, 1.0, plot_height / height))
    battle_axes(ax, scene, view)
    draw_state(ax, scene, battle, 0, title)
    return _canvas_rgb(fig)


def show(frame: np.ndarray, window: AxesImage | None) -> AxesImage | None:
    """Show ``frame`` in a matplotlib window: a new one when ``window`` is None, else ``window`` updated.

    Returns the window for the next call, or None with a warning where pyplot's backend cannot open one.
    """
    import matplotlib.pyplot as plt  # pyplot (and its global backend) only for a window

    if window is None:
        fig = plt.figure(figsize=(frame.shape[1] / FRAME_DPI, frame.shape[0] / FRAME_DPI), dpi=FRAME_DPI)
        if fig.canvas.required_interactive_framework is None:
            plt.close(fig)
            warnings.warn(
                f"render(mode='human') shows nothing: matplotlib's backend {plt.get_backend()!r} cannot open a "
                "window (no display?); render(mode='rgb_array') returns the picture",
                stacklevel=3,
            )
            return None
        ax = fig.add_axes((0, 0, 1, 1))
        ax.set_axis_off()
        window = ax.imshow(frame)
    else:
        window.set_data(frame)
    plt.pause(0.001)  # let the window draw
    return window


def close_window(window: AxesImage) -> None:
    import matplotlib.pyplot as plt

    plt.close(window.figure)


def battle_frames(
    scene: Scene, battle: Battle, title: str, outcome: str, curves: np.ndarray | None = None, label: str = ""
) -> list[np.ndarray]:
    """One RGB frame per state of ``battle`` (K = L + 1), the camera fixed on the episode's extent, the
    ``outcome`` in the last one's title; with ``curves`` (L, N), a second panel draws them step by step."""
    k_last = battle.n_states - 1
    width = PANEL_INCHES * (2.1 if curves is not None else 1)
    fig = Figure(figsize=(width, PANEL_INCHES), dpi=DPI)
    battle_ax = fig.add_axes((0.01, 0.02, 0.98 * PANEL_INCHES / width, 0.88))
    battle_axes(battle_ax, scene, battle.view(scene.map_view))
    moving = [battle_ax]
    if curves is not None:
        curve_ax = fig.add_axes((0.57, 0.13, 0.41, 0.75))
        curve_axes(curve_ax, scene, battle, curves, label)
        moving.append(curve_ax)
    frames = []
    for k in range(battle.n_states):
        for ax in moving:
            clear_moving(ax)
        status = f" ({outcome})" if k == k_last else ""
        draw_state(battle_ax, scene, battle, k, f"{title}\nstep {k}/{k_last}{status}")
        if curves is not None:
            draw_curves(curve_ax, scene, battle, curves, k)
        frames.append(_canvas_rgb(fig))
    return frames


def write_gif(path: Path, frames: list[np.ndarray]) -> None:
    """``frames`` as a looping GIF: ``STEP_MS`` each, the last held ``HOLD_MS``, one shared palette."""
    images = [Image.fromarray(f) for f in frames]
    sample = np.concatenate([frames[0], frames[len(frames) // 2], frames[-1]], axis=1)
    palette = Image.fromarray(sample).quantize(colors=GIF_COLOURS, dither=Image.Dither.NONE)
    indexed = [im.quantize(palette=palette, dither=Image.Dither.NONE) for im in images]
    durations = [STEP_MS] * (len(frames) - 1) + [HOLD_MS]
    indexed[0].save(path, save_all=True, append_images=indexed[1:], duration=durations, loop=0, optimize=False)


def plot_traces(path: Path, scene: Scene, battle: Battle, values: np.ndarray, label: str, title: str) -> None:
    """One panel per agent: ``values`` (L, N) against the step, its health and shield (fractions of their
    maxima), its attack and move steps shaded, its death marked; written to ``path`` (PNG)."""
    n = scene.n_agents
    cols = -(-n // 8)
    rows = -(-n // cols)
    fig = Figure(figsize=(5.6 * cols, 1.7 * rows + 0.8), dpi=110, layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False, sharex=True, sharey=True).T.flatten()
    shown = alive_values(battle, values)
    limits, deaths, colours = _padded_range(shown), battle.death_steps(), agent_colours(n)
    steps = np.arange(battle.n_states)
    for a, ax in enumerate(axes):
        if a >= n:
            ax.set_visible(False)
            continue
        _shade_actions(ax, battle.actions[:, a])
        ax.plot(steps[:-1], shown[:, a], color="black", linewidth=1.5)
        ax.set_ylim(*limits)
        ax.set_ylabel(f"agent {a}", fontsize=9, color=colours[a], weight="bold")
        vitals = ax.twinx()
        vitals.plot(steps, battle.health[:, a] / scene.health_max[a], color=_HEALTH, linewidth=1.1)
        if scene.shield_max[a] > 0:
            vitals.plot(steps, battle.shield[:, a] / scene.shield_max[a], color=_SHIELD, linewidth=1.1, ls="--")
        vitals.set_ylim(0, 1.05)
        vitals.tick_params(labelsize=7)
        if deaths[a] >= 0:
            ax.axvline(deaths[a], color="black", linestyle=":", linewidth=1)
            ax.text(deaths[a], limits[0], " dies", va="bottom", fontsize=7)
    for ax in axes[rows - 1 :: rows]:
        ax.set_xlabel("env step")
    fig.suptitle(title, fontsize=9)
    legend = _trace_legend(scene, label)
    fig.legend(handles=legend, loc="outside lower center", ncols=len(legend), fontsize=7, frameon=False)
    fig.savefig(path)


def _shade_actions(ax: Axes, actions: np.ndarray) -> None:
    """Shade the steps whose action was an attack (or heal) red, a move blue."""
    spans = ax.get_xaxis_transform()
    steps = np.arange(len(actions) + 1)
    attack = np.append(actions >= N_ACTIONS_NO_ATTACK, False)
    move = np.append((actions >= 2) & (actions < N_ACTIONS_NO_ATTACK), False)
    ax.fill_between(steps, 0, 1, where=attack, step="post", transform=spans, color=_ATTACK_SHADE, alpha=0.35, lw=0)
    ax.fill_between(steps, 0, 1, where=move, step="post", transform=spans, color=_MOVE_SHADE, alpha=0.35, lw=0)


def _trace_legend(scene: Scene, label: str) -> list[Any]:
    n = scene.n_agents
    handles = [
        Line2D([], [], color="black", linewidth=1.5, label=label),
        Line2D([], [], color=_HEALTH, label="health / max"),
        Patch(color=_ATTACK_SHADE, alpha=0.35, label="attacking or healing" if scene.healer[:n].any() else "attacking"),
        Patch(color=_MOVE_SHADE, alpha=0.35, label="moving"),
    ]
    if (scene.shield_max[:n] > 0).any():
        handles.insert(2, Line2D([], [], color=_SHIELD, linestyle="--", label="shield / max"))
    return handles
