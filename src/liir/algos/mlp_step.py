"""One regression step of a ReLU MLP critic, written out by hand: the ``seq`` critic's inner loop.

pymarl's ``seq`` critic takes one optimiser step per time step on 40–160 rows. At that size each
autograd node, each ``clip_grad_norm_`` tensor and each per-parameter RMSprop update costs more in
Python and dispatch than in arithmetic. ``FlatMLPRegression`` does the same step — forward, the
masked squared-error loss, its gradient, the norm clip and RMSprop — as a few dozen tensor operations
on flat copies of the parameters, gradients and RMSprop state, and writes them back when the run of
steps ends. Every operation is the one autograd, ``clip_grad_norm_`` and ``torch.optim.RMSprop`` run,
in the same order, so the result is the same to the last bit on CPU (``tests/algos/test_mlp_step.py``
checks it against the autograd loop).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

_threshold_backward = torch.ops.aten.threshold_backward


class FlatMLPRegression:
    """Linear-ReLU-…-Linear trained by squared error with ``optimizer`` (plain RMSprop) and norm clipping.

    Between ``__init__`` and ``close()`` the layers' parameters and the optimiser's state live in flat
    buffers; ``sync()`` writes the parameters back (for a target-network copy), ``close()`` writes
    parameters and state back and advances the optimiser's step counters.
    """

    def __init__(self, layers: Sequence[nn.Linear], optimizer: torch.optim.Optimizer, clip: float | None) -> None:
        self.params = [p for layer in layers for p in (layer.weight, layer.bias)]
        group = _plain_rmsprop_group(optimizer, self.params)
        self.lr, self.alpha, self.eps = group["lr"], group["alpha"], group["eps"]
        self.clip = clip if clip is not None else float("inf")
        self.optimizer = optimizer
        for p in self.params:  # the state torch.optim.RMSprop creates on its first step
            state = optimizer.state[p]
            if not state:
                state["step"] = torch.tensor(0.0)
                state["square_avg"] = torch.zeros_like(p, memory_format=torch.preserve_format)
        self.flat_params = torch.cat([p.detach().reshape(-1) for p in self.params])
        self.flat_square_avg = torch.cat([optimizer.state[p]["square_avg"].reshape(-1) for p in self.params])
        self.flat_grads = torch.empty_like(self.flat_params)
        self.weights, self.grads = self._views(self.flat_params), self._views(self.flat_grads)
        self.steps = 0

    def _views(self, flat: torch.Tensor) -> list[torch.Tensor]:
        views, offset = [], 0
        for p in self.params:
            views.append(flat[offset : offset + p.numel()].view(p.shape))
            offset += p.numel()
        return views

    def step(
        self, x: torch.Tensor, targets: torch.Tensor, actions: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """One update on rows ``x`` (R, in), every one a real transition; returns (outputs (R, out), regressed
        values (R,), loss, grad norm).

        The loss is the mean of (v − target)² over the rows; v is output 0, or the output at ``actions`` (R,)
        when given. Before the update the loss and gradient norm are returned for the caller to check.
        """
        hidden, out = self._forward(x)
        value = out[:, 0] if actions is None else out.gather(1, actions.unsqueeze(1)).squeeze(1)
        diff = value - targets
        rows = x.shape[0]
        loss = diff.pow(2).sum() / rows
        grad_value = (1.0 / rows) * (2.0 * diff)
        if actions is None:
            grad_out = grad_value.unsqueeze(1)
        else:
            grad_out = torch.zeros_like(out).scatter_(1, actions.unsqueeze(1), grad_value.unsqueeze(1))
        self._backward([x, *hidden], grad_out)
        grad_norm = torch.linalg.vector_norm(torch.stack(torch._foreach_norm(self.grads)))
        return out, value, loss, grad_norm

    def apply(self, grad_norm: torch.Tensor) -> None:
        """Clip the gradients of the last ``step`` to the norm bound, then one RMSprop step."""
        grads, square_avg = self.flat_grads, self.flat_square_avg
        grads.mul_(torch.clamp(self.clip / (grad_norm + 1e-6), max=1.0))
        square_avg.mul_(self.alpha).addcmul_(grads, grads, value=1 - self.alpha)
        self.flat_params.addcdiv_(grads, square_avg.sqrt().add_(self.eps), value=-self.lr)
        self.steps += 1

    def _forward(self, x: torch.Tensor) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Hidden activations after each ReLU and the output. The first layer is ``mm`` then ``add_``,
        as ``F.linear`` runs on the strided time slices the autograd path reads; later ones ``addmm``."""
        w = self.weights
        hidden = [torch.mm(x, w[0].t()).add_(w[1]).relu_()]
        for i in range(2, len(w) - 2, 2):
            hidden.append(torch.addmm(w[i + 1], hidden[-1], w[i].t()).relu_())
        return hidden, torch.addmm(w[-1], hidden[-1], w[-2].t())

    def _backward(self, layer_inputs: list[torch.Tensor], grad_out: torch.Tensor) -> None:
        """Weight and bias gradients into ``flat_grads``, as autograd's addmm/mm/ReLU backward computes them."""
        w, g, grad = self.weights, self.grads, grad_out
        for i in reversed(range(len(layer_inputs))):
            inputs = layer_inputs[i]
            torch.mm(inputs.t(), grad, out=g[2 * i].t())
            torch.sum(grad, 0, out=g[2 * i + 1])
            if i > 0:
                grad = _threshold_backward(torch.mm(grad, w[2 * i]), inputs, 0)

    def sync(self) -> None:
        """Write the current parameters into the layers."""
        with torch.no_grad():
            torch._foreach_copy_(self.params, self.weights)

    def close(self) -> None:
        """Write parameters and RMSprop state back; count the steps taken in the optimiser's state."""
        self.sync()
        for p, avg in zip(self.params, self._views(self.flat_square_avg), strict=True):
            state = self.optimizer.state[p]
            state["square_avg"].copy_(avg)
            state["step"] += self.steps


def _plain_rmsprop_group(optimizer: torch.optim.Optimizer, params: list[torch.Tensor]) -> dict:
    """The optimiser's only parameter group, checked to be RMSprop without extras over exactly ``params``."""
    groups = optimizer.param_groups
    if not isinstance(optimizer, torch.optim.RMSprop) or len(groups) != 1:
        raise TypeError(f"the seq critic step needs one torch.optim.RMSprop parameter group, got {optimizer!r}")
    group = groups[0]
    extras = {k: group[k] for k in ("momentum", "weight_decay", "centered", "maximize") if group[k]}
    if extras or {id(p) for p in group["params"]} != {id(p) for p in params}:
        raise ValueError(f"the seq critic step covers plain RMSprop over the critic's layers only, got {extras}")
    return group
