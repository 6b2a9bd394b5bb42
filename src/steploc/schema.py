"""The configuration schema shipped with the package: the one home of every default.

``schemas/config.schema.yaml`` validates the workflow config (``workflow/schemas/`` links to
it); ``schemas/segmenters.schema.yaml`` holds each segmentation method's parameters. Code that
needs a default (an estimator's ``__init__``, a CLI) reads it from here instead of repeating it.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import yaml

SCHEMA_DIR = Path(__file__).resolve().parent / "schemas"
CONFIG_SCHEMA = SCHEMA_DIR / "config.schema.yaml"
SEGMENTERS_SCHEMA = SCHEMA_DIR / "segmenters.schema.yaml"


@cache
def load_schema(path: Path = CONFIG_SCHEMA) -> dict:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def _properties(schema: dict, *keys: str) -> dict:
    """The ``properties`` of the object at ``keys`` (``additionalProperties`` entries are
    followed for named sections such as ``models.<name>``: pass ``"*"``)."""
    node = schema
    for key in keys:
        node = node["additionalProperties"] if key == "*" else node["properties"][key]
    return node.get("properties", {})


def defaults(*keys: str) -> dict:
    """Defaults of the config object at ``keys``, e.g. ``defaults("resources", "segment")``."""
    return {name: spec["default"] for name, spec in _properties(load_schema(), *keys).items()
            if "default" in spec}


def format_defaults(fmt: str) -> dict:
    """Defaults of the ``annotations`` keys of one dataset format (``$defs.<format>``)."""
    spec = load_schema()["$defs"][fmt]
    return {name: p["default"] for name, p in spec.get("properties", {}).items()
            if "default" in p}


def default_method() -> str:
    """The segmenter of a clustering setting that names none."""
    return _properties(load_schema(), "clustering", "*")["method"]["default"]


def common_clustering_keys() -> list[str]:
    """Keys every clustering setting takes whatever its method (method, smoothing, ...)."""
    return list(_properties(load_schema(), "clustering", "*"))


def segmenter_parameters(method: str) -> dict[str, dict]:
    """The parameter specs of a segmentation method (name -> JSON-schema property)."""
    defs = load_schema(SEGMENTERS_SCHEMA)["$defs"]
    if method not in defs:
        raise KeyError(f"unknown segmentation method {method!r} (known: {', '.join(defs)})")
    return dict(defs[method].get("properties", {}))


def segmenter_defaults(method: str) -> dict:
    """``{parameter: default}`` of a segmentation method."""
    return {name: spec["default"] for name, spec in segmenter_parameters(method).items()
            if "default" in spec}


def segmenter_methods() -> list[str]:
    return list(load_schema(SEGMENTERS_SCHEMA)["$defs"])
