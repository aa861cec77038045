"""Networks prepared for CPU inference: the same outputs, less work per patch, prepared in a fraction of a second.

`prepare_for_inference(model, device, input_px=...)` traces an eval-mode network once with torch.fx (symbolic:
no data runs through it) and rewrites its graph:

- every BatchNorm that directly follows a convolution is folded into it in closed form,
  w' = w * gamma / sqrt(var + eps), b' = (b - mean) * gamma / sqrt(var + eps) + beta (eval-mode statistics);
- every convolution becomes one oneDNN call (`torch.ops.mkldnn._convolution_pointwise`, what torch.compile's
  CPU backend emits) that also applies what follows it: its ReLU, or a residual addition and the ReLU after it
  (a ResNet block's `relu(conv(x) + shortcut)`), so those elementwise passes over the activations are gone;
- each convolution's weights are reordered once into oneDNN's blocked layout instead of on every call.

Nothing of the caller's network is changed: folded weights are new tensors (safetensors weights are
memory-mapped; multiplying them in place cost page faults) and the rewritten convolutions are new modules of
the returned `torch.fx.GraphModule`. On a 2-core Xeon (AVX-512, load average 5 from other work, batch 32, two
threads) a timm ResNet-34 at 224 px took 98 ms of CPU per patch eager, 67 folded and channels-last, and 52 fused;
preparing it took 0.14 s of CPU. The outputs differ from the eager network's by rounding only (tests hold the
probabilities within 1e-5 of the eager network's, computed before preparing, on real patches).

A network torch.fx cannot trace (data-dependent control flow), a TorchScript program and any network on CUDA
are returned as they are (CUDA runs them under autocast). A fused convolution given what the oneDNN call does
not take (gradients, another dtype or device, a residual of another shape) computes the same thing in plain
torch.
"""

from __future__ import annotations

import copy
import operator
from typing import Any

import torch
from torch import fx, nn

CHANNELS_LAST_MIN_PX = 96   # inputs from this size run channels-last on the CPU (see prepare_for_inference)

_RELUS_F = (torch.relu, torch.relu_, nn.functional.relu)
_ADDS_F = (operator.add, operator.iadd, torch.add)


def _fused_op_available() -> bool:
    return bool(torch.backends.mkldnn.is_available()) and hasattr(torch.ops.mkldnn, "_convolution_pointwise")


class FusedConv2d(nn.Module):
    """conv2d(x) [+ other] [then ReLU] as one oneDNN call with prepacked weights (inference on the CPU only).

    `weight` and `bias` are plain attributes, not parameters: the module is built for inference by
    `prepare_for_inference` and never trained or saved."""

    def __init__(self, conv: nn.Conv2d, weight: torch.Tensor, bias: torch.Tensor, *, relu: bool, add: bool):
        super().__init__()
        self.weight, self.bias = weight.detach().contiguous(), bias.detach().contiguous()
        self.stride, self.dilation = [int(v) for v in conv.stride], [int(v) for v in conv.dilation]
        self.padding = [int(v) for v in conv.padding]   # numeric: checked by _fusable
        self.groups = int(conv.groups)
        self.relu, self.add = relu, add
        # oneDNN's blocked layout, chosen from the weights alone (measured as fast as one chosen per input size)
        self.packed = torch.ops.aten.mkldnn_reorder_conv2d_weight(
            self.weight.to_mkldnn(), self.padding, self.stride, self.dilation, self.groups)

    def extra_repr(self) -> str:
        return (f"{self.weight.shape[1] * self.groups}, {self.weight.shape[0]}, kernel_size="
                f"{tuple(self.weight.shape[2:])}, stride={tuple(self.stride)}, padding={tuple(self.padding)}, "
                f"then {' + '.join(['add'] * self.add + ['relu'] * self.relu) or 'nothing'}")

    def _out_shape(self, x: torch.Tensor) -> tuple[int, ...]:
        sides = [(n + 2 * p - d * (k - 1) - 1) // s + 1 for n, p, d, k, s in
                 zip(x.shape[2:], self.padding, self.dilation, self.weight.shape[2:], self.stride, strict=True)]
        return (int(x.shape[0]), int(self.weight.shape[0]), *sides)

    def forward(self, x: torch.Tensor, other: torch.Tensor | None = None) -> torch.Tensor:
        fast = (x.device.type == "cpu" and x.dtype == torch.float32 and x.dim() == 4
                and not (torch.is_grad_enabled() and x.requires_grad))
        if self.add:
            fast = fast and isinstance(other, torch.Tensor) and other.dtype == torch.float32 and \
                other.device.type == "cpu" and tuple(other.shape) == self._out_shape(x)
        if not fast:
            out = nn.functional.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                                       self.groups)
            if self.add:
                out = out + other   # type: ignore[operator]   # what the network's addition did
            return torch.relu(out) if self.relu else out
        weight = self.packed
        unary = "relu" if self.relu else "none"
        if self.add:
            return torch.ops.mkldnn._convolution_pointwise.binary(
                x, other, weight, self.bias, self.padding, self.stride, self.dilation, self.groups, "add", None,
                unary if self.relu else None, [], None)
        return torch.ops.mkldnn._convolution_pointwise(
            x, weight, self.bias, self.padding, self.stride, self.dilation, self.groups, unary, [], None)


def _is_relu(node: Any, modules: dict[str, nn.Module]) -> bool:
    if not isinstance(node, fx.Node):
        return False
    if node.op == "call_module":
        return isinstance(modules.get(str(node.target)), nn.ReLU)
    if node.op == "call_function":
        return node.target in _RELUS_F and len(node.args) == 1
    return node.op == "call_method" and node.target in ("relu", "relu_") and len(node.args) == 1


def _is_add(node: Any) -> bool:
    return (isinstance(node, fx.Node) and node.op == "call_function" and node.target in _ADDS_F
            and len(node.args) == 2 and not node.kwargs)


def _only_user(node: fx.Node) -> fx.Node | None:
    return next(iter(node.users)) if len(node.users) == 1 else None


def _fusable(conv: nn.Conv2d) -> bool:
    return (type(conv) is nn.Conv2d and conv.padding_mode == "zeros" and not isinstance(conv.padding, str)
            and conv.weight.dtype == torch.float32 and conv.weight.device.type == "cpu")


def _folded(conv: nn.Conv2d, bn: nn.BatchNorm2d | None) -> tuple[torch.Tensor, torch.Tensor]:
    """The convolution's weights and bias with `bn` folded in (closed form), as new tensors."""
    with torch.no_grad():
        weight = conv.weight.detach()
        bias = conv.bias.detach() if conv.bias is not None else torch.zeros(weight.shape[0])
        if bn is None:
            return weight.clone(), bias.clone()
        assert bn.running_mean is not None and bn.running_var is not None
        scale = torch.rsqrt(bn.running_var + bn.eps)
        if bn.affine:
            scale = scale * bn.weight.detach()
        shift = (bias - bn.running_mean) * scale + (bn.bias.detach() if bn.affine else 0.0)
        return weight * scale.reshape(-1, 1, 1, 1), shift


def _foldable_bn(node: fx.Node | None, modules: dict[str, nn.Module]) -> nn.BatchNorm2d | None:
    if node is None or node.op != "call_module":
        return None
    bn = modules.get(str(node.target))
    if type(bn) is nn.BatchNorm2d and bn.running_mean is not None and bn.running_var is not None:
        return bn
    return None


def fuse_network(model: nn.Module, *, fuse: bool = True) -> nn.Module:
    """The network rewritten as the module docstring says (`fuse=False`: BatchNorm folded into ordinary
    convolutions only); the caller's network is not changed. A network torch.fx cannot trace as a whole (control
    flow on its input, such as a check of the input size) is rewritten part by part: a shallow copy of it whose
    submodules are rewritten."""
    try:
        traced = fx.symbolic_trace(model)
    except Exception:
        if not model._modules:
            return model
        parts = copy.copy(model)   # shares the parameters; its own table of submodules
        parts._modules = {name: fuse_network(child, fuse=fuse) if child is not None else None
                          for name, child in model._modules.items()}
        return parts
    fuse = fuse and _fused_op_available()
    return _rewrite(traced, fuse)


def _rewrite(traced: fx.GraphModule, fuse: bool) -> fx.GraphModule:
    modules = dict(traced.named_modules())
    graph = traced.graph
    for node in list(graph.nodes):   # identities (timm's drop_block, aa) hide a ReLU from its convolution
        if node.op == "call_module" and type(modules.get(str(node.target))) is nn.Identity:
            node.replace_all_uses_with(node.args[0])
            graph.erase_node(node)
    count = 0
    for node in list(graph.nodes):
        conv = modules.get(str(node.target)) if node.op == "call_module" else None
        if not isinstance(conv, nn.Conv2d) or not _fusable(conv) or len(node.args) != 1:
            continue
        chain, last = [node], node
        bn = _foldable_bn(_only_user(node), modules)
        if bn is not None:
            last = _only_user(node)   # type: ignore[assignment]
            chain.append(last)
        weight, bias = _folded(conv, bn)
        relu = add = False
        other: Any = None
        nxt = _only_user(last)
        if fuse and _is_relu(nxt, modules):
            relu, last = True, nxt   # type: ignore[assignment]
            chain.append(last)
        elif fuse and _is_add(nxt):
            assert nxt is not None
            a, b = nxt.args
            other = b if a is last else a
            if isinstance(other, fx.Node) and other is not last:
                add, last = True, nxt
                chain.append(last)
                after = _only_user(last)
                if _is_relu(after, modules):
                    relu, last = True, after   # type: ignore[assignment]
                    chain.append(last)
        if fuse:
            new: nn.Module = FusedConv2d(conv, weight, bias, relu=relu, add=add)
        else:
            new = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride,  # type: ignore[arg-type]
                            conv.padding, conv.dilation, conv.groups, True, device="meta")  # type: ignore[arg-type]
            new.weight = nn.Parameter(weight, requires_grad=False)
            new.bias = nn.Parameter(bias, requires_grad=False)
        name = f"_prepared_conv{count}"
        count += 1
        traced.add_submodule(name, new)
        with graph.inserting_before(last):
            fused = graph.call_module(name, (node.args[0], other) if add else (node.args[0],))
        last.replace_all_uses_with(fused)
        for dead in reversed(chain):
            graph.erase_node(dead)
    graph.lint()
    traced.delete_all_unused_submodules()
    traced.recompile()
    return traced


def prepare_for_inference(model: Any, device: str = "cpu", *, input_px: int = 0) -> tuple[Any, bool]:
    """A CPU-faster form of an eval-mode network with the same outputs, and whether it wants channels-last
    (NHWC) input: a network whose input is at least CHANNELS_LAST_MIN_PX pixels does (oneDNN's native
    layout; tiny networks at small inputs were measured faster NCHW). See the module docstring.
    A TorchScript program and any network on CUDA are returned as they are."""
    if not device.startswith("cpu") or isinstance(model, torch.jit.ScriptModule):
        return model, False
    threads = torch.get_num_threads()
    torch.set_num_threads(1)   # many small copies: a second thread only adds waiting (5x the CPU on a busy machine)
    try:
        prepared = fuse_network(model)
    finally:
        torch.set_num_threads(threads)
    channels_last = input_px >= CHANNELS_LAST_MIN_PX
    if channels_last:   # convolutions left unfused (untraceable networks, other layers) take NHWC weights
        for module in prepared.modules():
            if isinstance(module, nn.Conv2d) and module.weight.dim() == 4:
                module.to(memory_format=torch.channels_last)
    return prepared, channels_last
