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
    """Checks the schema cannot phrase well, each failing with a message that says what to
    change. Runs before the schema validation, so it only reads what it can check safely."""
    for section in ("models", "clustering"):
        entries = config.get(section) or {}
        if not isinstance(entries, dict):
            continue
        for name in entries:
            if name in RESERVED_NAMES:
                raise InputError(
                    f"{section}.{name}: the name {name!r} is reserved for the evaluation's "
                    f"baselines ({', '.join(RESERVED_NAMES)}); rename this entry")
    clustering = config.get("clustering") or {}
    for name, setting in (clustering.items() if isinstance(clustering, dict) else ()):
        if not isinstance(setting, dict):
            continue
        _check_method_parameters(name, setting)
        window = setting.get("smoothing_window")
        if isinstance(window, int) and window % 2 == 0:
            raise InputError(
                f"clustering.{name}.smoothing_window is {window}: it must be odd, because the "
                f"window is centred on each node (use {window - 1} or {window + 1})")
    _check_train_runs(config)


#: Training config keys the workflow sets from a train run's other entries (rule inputs).
_TRAIN_OWN_KEYS = {"train.init_from": "init_checkpoint"}


def _train_runs(config: dict) -> dict:
    section = config.get("train")
    runs = section.get("runs") if isinstance(section, dict) else None
    return runs if isinstance(runs, dict) else {}


def _check_train_runs(config: dict) -> None:
    """``train.runs.<run>.overrides``: ``key=value`` strings, none of them a key the workflow
    sets itself (a file given in an override would not be a rule input, so a new file would not
    retrain)."""
    for name, run in _train_runs(config).items():
        if not isinstance(run, dict) or not isinstance(run.get("overrides"), list):
            continue  # the schema reports it
        for i, item in enumerate(run["overrides"]):
            if not isinstance(item, str):
                continue
            key, sep, _ = item.partition("=")
            if not sep or "." not in key.strip():
                raise InputError(
                    f"train.runs.{name}.overrides[{i}] is {item!r}: an override is "
                    "'section.key=value' (e.g. 'train.num_epochs=5'; sections: model, task, "
                    "data, train)")
            own = _TRAIN_OWN_KEYS.get(key.strip())
            if own:
                raise InputError(
                    f"train.runs.{name}.overrides[{i}] sets {key.strip()}: use "
                    f"train.runs.{name}.{own} instead (a rule input, so a new file retrains)")


def check_train_overrides(config: dict) -> None:
    """Build each train run's training config (:func:`steploc.hiero.training.make_config`) from
    its ``overrides``, so an unknown key or a bad value fails before any job runs, naming the
    run. Imports torch: the workflow calls it in its main process only."""
    runs = _train_runs(config)
    if not runs:
        return
    from steploc.hiero.training import make_config

    for name, run in runs.items():
        try:
            make_config(None, list(run.get("overrides") or []))
        except InputError as exc:
            raise InputError(f"train.runs.{name}.overrides: {exc}") from None


def _check_method_parameters(name: str, setting: dict) -> None:
    """A parameter of another method is an error naming both methods (the schema alone would
    only say "unexpected")."""
    from steploc.schema import (
        common_clustering_keys,
        default_method,
        segmenter_methods,
        segmenter_parameters,
    )

    method = setting.get("method", default_method())
    methods = segmenter_methods()
    if method not in methods:
        return  # the schema names the allowed methods
    own = set(segmenter_parameters(method))
    for key in setting:
        if key in common_clustering_keys() or key in own:
            continue
        owners = [m for m in methods if key in segmenter_parameters(m)]
        if owners:
            raise InputError(
                f"clustering.{name}.{key} is a parameter of method "
                f"{' / '.join(owners)}, not of {method!r} (clustering.{name}.method); remove "
                f"it or change the method. {method!r} takes: "
                f"{', '.join(sorted(own)) or 'no parameters'}")


def validate_config(config: dict) -> dict:
    """Check ``config`` against the packaged schema and fill in its defaults (in place, as
    ``snakemake.utils.validate`` does in the workflow), after :func:`check_config`. For code
    that runs outside the workflow (benchmarks, notebooks, the CLI); returns ``config``."""
    import jsonschema
    from referencing import Registry, Resource

    from steploc.schema import CONFIG_SCHEMA, SCHEMA_DIR, load_schema

    check_config(config)
    schema = dict(load_schema(CONFIG_SCHEMA))
    schema["$id"] = CONFIG_SCHEMA.as_uri()

    def retrieve(uri: str) -> Resource:
        from urllib.parse import urlparse

        return Resource.from_contents(load_schema(SCHEMA_DIR / urlparse(uri).path.rsplit("/", 1)[-1]))

    validator_class = jsonschema.validators.extend(
        jsonschema.Draft202012Validator, {"properties": _properties_with_defaults})
    validator = validator_class(schema, registry=Registry(retrieve=retrieve))  # type: ignore[call-arg]
    errors = sorted(validator.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = ".".join(str(p) for p in first.absolute_path) or "<top level>"
        raise InputError(f"config {where}: {first.message}")
    return config


def _properties_with_defaults(validator, properties, instance, schema):
    import jsonschema

    if isinstance(instance, dict):
        for name, subschema in properties.items():
            if "default" in subschema:
                instance.setdefault(name, subschema["default"])
    yield from jsonschema.Draft202012Validator.VALIDATORS["properties"](
        validator, properties, instance, schema)


def load_config(*paths) -> dict:
    """Merge YAML config files (later ones win, as Snakemake's ``--configfile``), then
    :func:`validate_config`."""
    import yaml

    merged: dict = {}
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            deep_update(merged, yaml.safe_load(fh) or {})
    return validate_config(merged)
