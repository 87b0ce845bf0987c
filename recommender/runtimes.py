"""The engine that runs a network at inference: PyTorch, or OpenVINO on a CPU.

PyTorch runs the network layer by layer; OpenVINO compiles the whole graph for the CPU it
finds (fused convolution + activation kernels, blocked memory layouts, bfloat16 where the
CPU computes it natively). On a 2-core CPU without AVX-512 a street photo's detection and
the embedding of its items took about 0.93 of PyTorch's float32 time, with the same boxes
(held-out CorLoc to the last digit; recommender/README.md, **Performance notes**); on a
2-core CPU with AVX-512 BF16 a detection in bfloat16 took 0.90-0.98 of PyTorch's bfloat16 time,
with the same held-out CorLoc within its noise (0.579 against 0.577). One graph accepts
any batch and input size; graphs compiled for recurring shapes run faster still, at about
100 MB of memory each (`fixed_shapes`, off by default). A graph saved to a file, such as
the 8-bit detector graph `recommender.quantize` makes, runs the same way (`graph`).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import logging
import os
import threading
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import torch
from torch import nn

from recommender.models.backbones import state_digest

logger = logging.getLogger(__name__)

RUNTIMES = ("auto", "torch", "openvino")
_MAX_SEEN_SHAPES = 1024


def openvino_available() -> bool:
    """Whether the OpenVINO runtime is installed."""
    return importlib.util.find_spec("openvino") is not None


def resolve_runtime(requested: str, device: torch.device) -> str:
    """The engine to run on `device`: "torch", "openvino" (CPU only), or "auto": OpenVINO
    on a CPU where it is installed, in float32 or in bfloat16 (where the CPU computes it
    natively: the same CorLoc as PyTorch's bfloat16 in 0.90-0.98 of its time), else PyTorch."""
    if requested not in RUNTIMES:
        raise ValueError(f"unsupported runtime {requested!r}: use one of {', '.join(RUNTIMES)}")
    if requested == "auto":
        return "openvino" if device.type == "cpu" and openvino_available() else "torch"
    if requested == "openvino":
        if device.type != "cpu":
            raise ValueError(f"the openvino runtime runs on the CPU, not {device}; use torch")
        if not openvino_available():
            raise ValueError("the openvino runtime needs openvino: pip install openvino")
    return requested


class _Method(nn.Module):
    """One method of a module (say `forward_features`) as a module's forward: what the
    converter traces."""

    def __init__(self, module: nn.Module, method: str) -> None:
        super().__init__()
        self.module = module
        self.method = method

    def forward(self, images: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        return getattr(self.module, self.method)(images)


class OpenVinoModel:
    """A module's `method` (images -> tensor or tuple of tensors) compiled by OpenVINO for
    the CPU.

    Called with a float32 batch (B, 3, H, W) of any batch size and input size, it returns
    what the method returns, as float32 tensors. `precision` is the compute dtype: float32,
    or bfloat16 (for CPUs that compute it natively; elsewhere OpenVINO computes float32,
    and `precision` says so). Calls from several threads are safe: each thread has its own
    inference request. With `fixed_shapes`, the first that many shapes to come a second
    time get a graph compiled for them, which runs faster but holds its own buffers (about
    100 MB each for the detector's shapes): off by default. Converting the module
    takes seconds; with `cache_dir` the converted graph is kept there, keyed by the
    module's structure, weights and the library versions, and later instances of the same
    module read it back instead.
    """

    def __init__(
        self,
        module: nn.Module,
        *,
        method: str = "forward",
        precision: torch.dtype = torch.float32,
        threads: int | None = None,
        cache_dir: Path | str | None = None,
        fixed_shapes: int = 0,
        graph: Path | str | Any = None,
    ) -> None:
        import openvino as ov

        if precision not in (torch.float32, torch.bfloat16, torch.int8):
            raise ValueError(
                f"the openvino runtime computes float32, bfloat16 or int8, not {precision}"
            )
        if (precision == torch.int8) != (graph is not None):
            raise ValueError(
                "int8 runs an 8-bit graph made by python -m recommender.quantize: pass it as "
                "graph, and pass graph with precision int8 only"
            )
        if fixed_shapes < 0:
            raise ValueError(f"fixed_shapes must be 0 or more, got {fixed_shapes}")
        started = time.perf_counter()
        self._core = ov.Core()
        if isinstance(graph, (str, Path)):
            self._model = self._core.read_model(Path(graph))
        elif graph is not None:  # an openvino.Model in memory
            self._model = graph
        else:
            self._model = _converted(module, method, None if cache_dir is None else Path(cache_dir))
        self.threads = threads or torch.get_num_threads()
        self._config = {
            "INFERENCE_NUM_THREADS": self.threads,
            # An 8-bit graph's quantised layers compute in 8 bits; its others in float32.
            "INFERENCE_PRECISION_HINT": "bf16" if precision == torch.bfloat16 else "f32",
            "PERFORMANCE_HINT": "LATENCY",
        }
        self._any_shape = _Graph(self._core.compile_model(self._model, "CPU", self._config))
        self.fixed_shapes = fixed_shapes
        self._fixed: dict[tuple[int, ...], _Graph] = {}
        self._seen: Counter[tuple[int, ...]] = Counter()
        self._lock = threading.Lock()
        compiled = self._any_shape.compiled
        self._outputs = len(compiled.outputs)
        # Where the CPU lacks bfloat16, OpenVINO computes float32 whatever the hint says.
        computed = compiled.get_property("INFERENCE_PRECISION_HINT")
        self.precision = torch.bfloat16 if computed == ov.Type.bf16 else torch.float32
        if precision == torch.int8:
            self.precision = torch.int8
        elif self.precision != precision:
            logger.warning("OpenVINO computes %s on this CPU, not %s", self.precision, precision)
        logger.info(
            "%s.%s compiled by OpenVINO %s in %.1f s (%s, %d threads)",
            type(module).__name__,
            method,
            ov.get_version(),
            time.perf_counter() - started,
            str(self.precision).removeprefix("torch."),
            self.threads,
        )

    def __call__(self, images: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        array = images.detach().to("cpu", torch.float32).contiguous().numpy()  # (B, 3, H, W)
        request = self._graph_for(array.shape).request()
        results = request.infer([array])  # the request's own buffers: copied below
        outputs = tuple(torch.from_numpy(results[index].copy()) for index in range(self._outputs))
        return outputs[0] if self._outputs == 1 else outputs

    def _graph_for(self, shape: tuple[int, ...]) -> _Graph:
        """The graph compiled for `shape` where it has one, else the graph for any shape.
        The first `fixed_shapes` shapes to come a second time get one (compiling takes
        about 0.2 s, and a shape seen once may not come again) and keep it: a bound on
        memory, and no recompiling when more shapes than that take turns."""
        with self._lock:
            graph = self._fixed.get(shape)
            if graph is not None or len(self._fixed) >= self.fixed_shapes:
                return graph or self._any_shape
            if len(self._seen) > _MAX_SEEN_SHAPES:  # one-off shapes: forget them
                self._seen.clear()
            self._seen[shape] += 1
            if self._seen[shape] < 2:
                return self._any_shape
            model = self._model.clone()
            model.reshape({0: list(shape)})
            graph = _Graph(self._core.compile_model(model, "CPU", self._config))
            self._fixed[shape] = graph
            del self._seen[shape]
            return graph


class _Graph:
    """A compiled graph and each thread's inference request on it."""

    def __init__(self, compiled) -> None:
        self.compiled = compiled
        self._local = threading.local()

    def request(self):
        request = getattr(self._local, "request", None)
        if request is None:
            request = self._local.request = self.compiled.create_infer_request()
        return request


def _converted(module: nn.Module, method: str, cache_dir: Path | None):
    """`module.method` as an OpenVINO model: read from `cache_dir` where an earlier process
    converted the same module, else converted (and, with `cache_dir`, stored there)."""
    import openvino as ov

    if cache_dir is None:
        return convert(module, method)
    path = cache_dir / f"{_cache_key(module, method)}.xml"
    if path.is_file():
        try:
            return ov.Core().read_model(path)
        except RuntimeError as error:  # a damaged file: convert again and replace it
            logger.warning("cannot read the cached model %s (%s); converting again", path, error)
    model = convert(module, method)
    # Written under a name of this process's own, then renamed (.bin before .xml): a reader
    # never sees a half-written pair, and concurrent writers write the same bytes.
    partial = path.with_name(f"{path.stem}.{os.getpid()}-{threading.get_ident()}.xml")
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        ov.save_model(model, partial, compress_to_fp16=False)
        os.replace(partial.with_suffix(".bin"), path.with_suffix(".bin"))
        os.replace(partial, path)
    except (OSError, RuntimeError) as error:
        logger.warning("cannot cache the converted model in %s: %s", cache_dir, error)
        for leftover in (partial, partial.with_suffix(".bin")):
            with contextlib.suppress(OSError):
                leftover.unlink()
    return model


def module_key(module: nn.Module, method: str) -> str:
    """What a graph made from `module.method` computes: the module's layers with their
    settings, every tensor of its state and the method; a saved graph records it, so a
    graph made from another network (or other weights) is never run in its place."""
    digest = hashlib.sha256()
    for part in (method, repr(module), state_digest(module)):
        digest.update(part.encode())
    return digest.hexdigest()


def convert(module: nn.Module, method: str = "forward"):
    """`module.method` as an OpenVINO model accepting any batch and input size (B, 3, H, W)."""
    import openvino as ov

    traced = _Method(module, method).eval()
    example = torch.zeros(1, 3, 224, 224)
    with torch.no_grad(), warnings.catch_warnings():
        # The PyTorch frontend traces the module; torch.jit's deprecation notices say
        # nothing about this conversion, whose output the tests compare with PyTorch's.
        warnings.simplefilter("ignore", category=FutureWarning)
        warnings.simplefilter("ignore", category=torch.jit.TracerWarning)
        return ov.convert_model(
            traced, example_input=example, input=[ov.PartialShape([-1, 3, -1, -1])]
        )


def _cache_key(module: nn.Module, method: str) -> str:
    """What the converted graph depends on: what it computes (`module_key`: the layers with
    their settings, such as strides and paddings, every tensor and the method) and the
    versions of the converter and of PyTorch, which traces the module."""
    import openvino as ov

    digest = hashlib.sha256()
    for part in (ov.get_version(), torch.__version__, module_key(module, method)):
        digest.update(part.encode())
    return digest.hexdigest()[:32]
