"""Loading the official HiERO ``train.py`` checkpoint without executing anything from the file.

The file is a ``torch.save`` of a dict with ``model``, ``task``, ``optimizer``, two scheduler
states, ``step`` and ``config`` (a pickled ``omegaconf.DictConfig``, docs/hiero.md §2).
``torch.load``'s default ``weights_only=True`` refuses it (omegaconf pickles a ``defaultdict``
through SETITEM, hiero.md §0.6), and ``weights_only=False`` with the stock pickle would run any
code the file names. So the file is read with a restricted unpickler that admits only the
globals such a checkpoint needs, maps the omegaconf classes to inert stand-ins, and refuses
everything else by name.
Sizes come from ``config.model`` (interpolations resolved here, no Hydra ``instantiate``); the
``model`` state dict is checked key by key and shape by shape. ``task``, ``optimizer`` and the
schedulers are ignored.
"""

from __future__ import annotations

import collections
import pickle
import re
import types
import typing
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from .errors import CheckpointError
from .model import HiERO, HiEROConfig, PositionMode

MODEL_TARGET = "models.hiero.HiERO"
CONV_TARGET = "models.conv.tdgc.TDGC"


# --------------------------------------------------------------------------- restricted unpickler
class _StandIn:
    """Inert replacement for an omegaconf class: keeps the pickled state, runs nothing."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.state: Any = None

    def __setstate__(self, state: Any) -> None:
        self.state = state


class _DictConfigStandIn(_StandIn):
    pass


class _ListConfigStandIn(_StandIn):
    pass


class _ValueNodeStandIn(_StandIn):
    pass


class _MetadataStandIn(_StandIn):
    pass


_OMEGACONF_STAND_INS: dict[tuple[str, str], type] = {
    ("omegaconf.dictconfig", "DictConfig"): _DictConfigStandIn,
    ("omegaconf.listconfig", "ListConfig"): _ListConfigStandIn,
    ("omegaconf.base", "Metadata"): _MetadataStandIn,
    ("omegaconf.base", "ContainerMetadata"): _MetadataStandIn,
    **{
        ("omegaconf.nodes", node): _ValueNodeStandIn
        for node in (
            "AnyNode",
            "StringNode",
            "IntegerNode",
            "FloatNode",
            "BooleanNode",
            "BytesNode",
            "PathNode",
            "EnumNode",
            "InterpolationResultNode",
        )
    },
}

_ALLOWED_GLOBALS: dict[tuple[str, str], Any] = {
    # torch's tensor rebuilders (storages themselves come through torch's persistent_load)
    ("torch._utils", "_rebuild_tensor_v2"): torch._utils._rebuild_tensor_v2,
    ("torch._utils", "_rebuild_tensor"): torch._utils._rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): torch._utils._rebuild_parameter,
    ("torch", "Size"): torch.Size,
    # containers used by state dicts and by omegaconf's pickled state
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("collections", "defaultdict"): collections.defaultdict,
    ("typing", "Any"): typing.Any,
    **{
        (module, kind.__name__): kind
        for module in ("builtins", "__builtin__")  # protocol-2 pickles say __builtin__
        for kind in (dict, list, tuple, set, frozenset, int, float, str, bool, bytes)
    },
}


class ForbiddenGlobal(pickle.UnpicklingError):
    """The pickle names a global outside the allow-list."""

    def __init__(self, module: str, name: str) -> None:
        self.qualified_name = f"{module}.{name}"
        super().__init__(f"refused global {self.qualified_name!r}")


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that resolves only allow-listed globals and omegaconf stand-ins."""

    def find_class(self, module: str, name: str) -> Any:
        key = (module, name)
        if key in _OMEGACONF_STAND_INS:
            return _OMEGACONF_STAND_INS[key]
        if key in _ALLOWED_GLOBALS:
            return _ALLOWED_GLOBALS[key]
        raise ForbiddenGlobal(module, name)


def _restricted_load(file: Any, **kwargs: Any) -> Any:
    return RestrictedUnpickler(file, **kwargs).load()


# the ``pickle_module`` handed to torch.load: torch subclasses its Unpickler for the tensor data
restricted_pickle = types.ModuleType("steploc_hiero_restricted_pickle")
restricted_pickle.Unpickler = RestrictedUnpickler  # type: ignore[attr-defined]
restricted_pickle.load = _restricted_load  # type: ignore[attr-defined]
restricted_pickle.UnpicklingError = pickle.UnpicklingError  # type: ignore[attr-defined]


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The checkpoint's top-level dict, tensors on CPU, ``config`` as plain dicts and lists.

    Raises :class:`CheckpointError` for unreadable, unsafe or non-checkpoint files.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if zipfile.is_zipfile(path):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError) as error:
            raise CheckpointError(f"{path}: not a readable torch checkpoint ({error})") from error
        if any(name.endswith("/constants.pkl") or "/code/" in name for name in names):
            # torch.load would hand a TorchScript archive to torch.jit.load
            raise CheckpointError(f"{path}: is a TorchScript archive, not a train.py checkpoint")
    try:
        checkpoint = torch.load(
            path, map_location="cpu", weights_only=False, pickle_module=restricted_pickle
        )
    except ForbiddenGlobal as error:
        raise CheckpointError(
            f"{path}: refused to load: the pickle references {error.qualified_name!r}, which a "
            "HiERO checkpoint does not need (no code from the file was run)"
        ) from error
    except Exception as error:  # torch/pickle/zip report corruption with many exception types
        raise CheckpointError(
            f"{path}: not a readable torch checkpoint (truncated or not a torch.save file): "
            f"{type(error).__name__}: {error}"
        ) from error
    if not isinstance(checkpoint, Mapping):
        raise CheckpointError(
            f"{path}: top level is a {type(checkpoint).__name__}, not the train.py checkpoint dict"
        )
    missing = [key for key in ("model", "config") if key not in checkpoint]
    if missing:
        raise CheckpointError(
            f"{path}: not a HiERO train.py checkpoint: missing top-level key(s) {missing} "
            f"(found {sorted(map(str, checkpoint))})"
        )
    result = dict(checkpoint)
    result["config"] = _plain_config(checkpoint["config"], path)
    return result


# --------------------------------------------------------------------------- config
def _plain_config(node: Any, path: Path) -> Any:
    """Convert the unpickled omegaconf stand-ins (``_content`` / ``_val`` state) to plain Python."""
    if isinstance(node, (_DictConfigStandIn, _ListConfigStandIn, _ValueNodeStandIn)):
        state = node.state if isinstance(node.state, Mapping) else {}
        if isinstance(node, _ValueNodeStandIn):
            return _plain_config(state.get("_val"), path)
        content = state.get("_content")
        if isinstance(content, Mapping):
            return {key: _plain_config(value, path) for key, value in content.items()}
        if isinstance(content, (list, tuple)):
            return [_plain_config(value, path) for value in content]
        return content  # None, "???" or an interpolation string for the whole node
    if isinstance(node, Mapping):
        return {key: _plain_config(value, path) for key, value in node.items()}
    if isinstance(node, (list, tuple)):
        return [_plain_config(value, path) for value in node]
    if node is None or isinstance(node, (str, int, float, bool)):
        return node
    raise CheckpointError(f"{path}: unexpected object of type {type(node).__name__} in config")


_INTERPOLATION = re.compile(r"\$\{([^${}]*)\}")
_MAX_INTERPOLATION_DEPTH = 32


def resolve_config(root: Any, node_path: tuple[str, ...], path: Path | str = "<config>") -> Any:
    """The node at ``node_path`` of a plain config, with ``${a.b}`` / ``${.a}`` / ``${..a}``
    interpolations resolved recursively. Resolver calls (``${oc.env:X}``) are refused."""

    def lookup(keys: tuple[str, ...], depth: int) -> Any:
        if depth > _MAX_INTERPOLATION_DEPTH:
            raise CheckpointError(f"{path}: config interpolation cycle at {'.'.join(keys)}")
        value = root
        for i, key in enumerate(keys):
            if isinstance(value, Mapping) and key in value:
                value = value[key]
            elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
                value = value[int(key)]
            else:
                raise CheckpointError(f"{path}: config has no key {'.'.join(keys[: i + 1])!r}")
            if isinstance(value, str):  # a whole node given by an interpolation
                value = resolve_value(value, keys[: i + 1], depth)
        return resolve_value(value, keys, depth)

    def resolve_value(value: Any, keys: tuple[str, ...], depth: int) -> Any:
        if isinstance(value, Mapping):
            return {k: resolve_value(v, keys + (str(k),), depth) for k, v in value.items()}
        if isinstance(value, list):
            return [resolve_value(v, keys + (str(i),), depth) for i, v in enumerate(value)]
        if value == "???":
            raise CheckpointError(f"{path}: config value {'.'.join(keys)} is missing ('???')")
        if not isinstance(value, str) or "${" not in value:
            return value

        def target(expression: str) -> Any:
            expression = expression.strip()
            if ":" in expression or not expression:
                raise CheckpointError(
                    f"{path}: config value {'.'.join(keys)} uses the resolver/expression "
                    f"'${{{expression}}}', which is not supported"
                )
            if expression.startswith("."):
                levels = len(expression) - len(expression.lstrip("."))
                base = keys[:-levels] if levels <= len(keys) else None
                if base is None:
                    raise CheckpointError(f"{path}: bad relative interpolation '${{{expression}}}'")
                return lookup(base + tuple(expression[levels:].split(".")), depth + 1)
            return lookup(tuple(expression.split(".")), depth + 1)

        whole = _INTERPOLATION.fullmatch(value)
        if whole:
            return target(whole.group(1))
        resolved = _INTERPOLATION.sub(lambda match: str(target(match.group(1))), value)
        if "${" in resolved:
            raise CheckpointError(f"{path}: nested interpolation in {'.'.join(keys)} is not supported")
        return resolved

    return lookup(node_path, 0)


def _model_config(config: Any, path: Path, input_size: int | None) -> HiEROConfig:
    """HiEROConfig from ``config.model`` (and ``config.features.size`` for the input width)."""
    if not isinstance(config, Mapping) or not isinstance(config.get("model"), Mapping):
        raise CheckpointError(f"{path}: config has no 'model' node")
    model = resolve_config(config, ("model",), path)
    conv = model.get("conv")
    if model.get("_target_") != MODEL_TARGET:
        raise CheckpointError(
            f"{path}: config model._target_ is {model.get('_target_')!r}, expected {MODEL_TARGET!r}"
        )
    if not isinstance(conv, Mapping) or conv.get("_target_") != CONV_TARGET:
        found = conv.get("_target_") if isinstance(conv, Mapping) else conv
        raise CheckpointError(
            f"{path}: config model.conv._target_ is {found!r}, expected {CONV_TARGET!r}"
        )

    def value(node: Mapping, key: str, kind: type, where: str = "model") -> Any:
        if key not in node:
            raise CheckpointError(f"{path}: config {where}.{key} is missing")
        raw = node[key]
        ok = isinstance(raw, kind) and not (kind is int and isinstance(raw, bool))
        if kind is float and isinstance(raw, int) and not isinstance(raw, bool):
            raw, ok = float(raw), True
        if not ok:
            raise CheckpointError(f"{path}: config {where}.{key} = {raw!r} is not a {kind.__name__}")
        return raw

    # variants the reference re-implementation does not cover are refused, naming the key
    required = {
        ("model", "pool"): (model, "mean"),
        ("model", "input_projection"): (model, True),
        ("model.conv", "aggr"): (conv, "mean"),
        ("model.conv", "pos_act"): (conv, "tanh"),
        ("model.conv", "bias"): (conv, True),
        ("model.conv", "use_signed_temporal_distance"): (conv, True),
        ("model.conv", "use_pos_attr"): (conv, True),
    }
    for (where, key), (node, expected) in required.items():
        if node.get(key) != expected:
            raise CheckpointError(
                f"{path}: config {where}.{key} = {node.get(key)!r} is not supported (expected {expected!r})"
            )
    hidden = value(model, "hidden_size", int)
    for key in ("in_channels", "out_channels"):
        if value(conv, key, int, "model.conv") != hidden:
            raise CheckpointError(f"{path}: config model.conv.{key} differs from model.hidden_size")
    if input_size is None:
        features = config.get("features")
        if not isinstance(features, Mapping) or "size" not in features:
            raise CheckpointError(f"{path}: config has no features.size; pass input_size explicitly")
        input_size = value(resolve_config(config, ("features",), path), "size", int, "features")
    try:
        return HiEROConfig(
            input_size=input_size,
            hidden_size=hidden,
            pos_hidden_channels=value(conv, "pos_hidden_channels", int, "model.conv"),
            n_layers=value(model, "n_layers", int),
            depth=value(model, "depth", int),
            radius=value(model, "k", float),
            dropout=value(model, "dropout", float),
            n_clusters=value(model, "n_clusters", int),
            clustering_sample_points=value(model, "clustering_sample_points", int),
        )
    except ValueError as error:
        if isinstance(error, CheckpointError):
            raise
        raise CheckpointError(f"{path}: unsupported model config: {error}") from error


def _check_state_dict(model: HiERO, state: Any, path: Path) -> dict[str, torch.Tensor]:
    """Strict key and shape check, reporting every missing, unexpected and mismatched key."""
    if not isinstance(state, Mapping):
        raise CheckpointError(f"{path}: 'model' is a {type(state).__name__}, not a state dict")
    expected = {key: tuple(value.shape) for key, value in model.state_dict().items()}
    problems = []
    missing = [key for key in expected if key not in state]
    unexpected = [key for key in state if key not in expected]
    mismatched = []
    for key, shape in expected.items():
        if key not in state:
            continue
        value = state[key]
        if not isinstance(value, torch.Tensor) or not value.is_floating_point():
            mismatched.append(f"{key}: not a float tensor ({type(value).__name__})")
        elif tuple(value.shape) != shape:
            mismatched.append(f"{key}: checkpoint {tuple(value.shape)} vs model {shape}")
    if missing:
        problems.append(f"missing keys {missing}")
    if unexpected:
        problems.append(f"unexpected keys {unexpected}")
    if mismatched:
        problems.append(f"mismatched {mismatched}")
    if problems:
        raise CheckpointError(f"{path}: 'model' does not fit the config: " + "; ".join(problems))
    return {key: state[key].to(torch.float32) for key in expected}


def load_checkpoint(
    path: str | Path,
    device: str | torch.device = "cpu",
    positions: PositionMode = "index",
    feature_period: float | None = None,
    input_size: int | None = None,
) -> HiERO:
    """Build :class:`HiERO` from an official ``train.py`` checkpoint, in eval mode on ``device``.

    ``positions``/``feature_period`` set the default position convention (see
    :func:`~steploc.hiero.model.make_positions`); ``input_size`` defaults to the config's
    ``features.size`` (256 for EgoVLP). The model always clusters in the decoder, as the notebook
    and the official evaluation scripts run it (``clustering_at_inference`` truthy), whatever the
    stored config says (train.py stores false). All refusals raise :class:`CheckpointError`.
    """
    path = Path(path)
    checkpoint = read_checkpoint(path)
    config = _model_config(checkpoint["config"], path, input_size)
    model = HiERO(config, positions=positions, feature_period=feature_period)
    model.load_state_dict(_check_state_dict(model, checkpoint["model"], path), strict=True)
    return model.to(device).eval()
