"""The workflow configuration: merging config files and the checks the JSON schema cannot
express with a useful message."""

from __future__ import annotations

from steploc.errors import InputError

#: Names the evaluation gives its feature-free baselines (models) and their setting. A model
#: or clustering setting of the same name would be confused with them in every table.
BASELINE_MODELS = ("random", "uniform")
BASELINE_SETTING = "baseline"
RESERVED_NAMES = (*BASELINE_MODELS, BASELINE_SETTING)


def deep_update(base: dict, new: dict) -> dict:
    """Merge ``new`` into ``base`` recursively (as Snakemake merges config files); returns it."""
    for key, value in new.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            deep_update(base[key], value)
        else:
            base[key] = value
    return base


def check_config(config: dict) -> None:
    """Checks beyond the schema, each failing with a message that says what to change."""
    for section in ("models", "clustering"):
        for name in config.get(section, {}):
            if name in RESERVED_NAMES:
                raise InputError(
                    f"{section}.{name}: the name {name!r} is reserved for the evaluation's "
                    f"baselines ({', '.join(RESERVED_NAMES)}); rename this entry")
    for name, setting in config.get("clustering", {}).items():
        window = setting.get("smoothing_window")
        if window is not None and window % 2 == 0:
            raise InputError(
                f"clustering.{name}.smoothing_window is {window}: it must be odd, because the "
                f"window is centred on each node (use {window - 1} or {window + 1})")
