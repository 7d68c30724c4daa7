"""Validate a config file's content against one of the project's JSON schemas (written in
YAML), filling in each `default` the schema gives for an absent property.

The semantics are those of `snakemake.utils.validate` (JSON Schema 2020-12, defaults filled
at every level the instance reaches), but each schema is read once per process, with libyaml,
and pandas is not imported. Why not Snakemake's: it re-reads the schemas with the pure-Python
YAML loader on every call (once per trial file) and imports pandas to check for a DataFrame,
which together took 1.4 s of a 2.2 s no-op re-run of the demo (measured 2026-12-02).
Imported when the DAG is built.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from urllib.parse import unquote, urlparse

import yaml
from jsonschema import Draft202012Validator, ValidationError, validators
from referencing import Registry, Resource

__all__ = ["ValidationError", "validate"]


def validate(instance: dict, schema_path: str | Path) -> None:
    """Validate `instance` in place against the schema file, filling defaults; raises
    jsonschema.ValidationError (its message names the failing key path)."""
    _validator(str(Path(schema_path).resolve())).validate(instance)


@functools.cache
def _schema(path: str) -> dict:
    with open(path) as handle:
        schema = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    # Relative $refs (power.schema.yaml, instruments.schema.yaml#/...) resolve against this
    # file, whatever $id the schema declares.
    schema["$id"] = Path(path).as_uri()
    return schema


def _retrieve(uri: str) -> Resource:
    return Resource.from_contents(_schema(unquote(urlparse(uri).path)))


@functools.cache
def _validator(path: str):
    schema = _schema(path)
    registry = Registry(retrieve=_retrieve).with_resource(
        uri=schema["$id"], resource=Resource.from_contents(schema)
    )
    return _filling_defaults(Draft202012Validator)(schema, registry=registry)


def _filling_defaults(validator_class):
    """The validator class that, before checking an object's properties, sets each absent
    property that has a `default` to a copy of it (a copy: schemas are cached, and a default
    list shared between two trial files would carry one file's edits into the other)."""
    check_properties = validator_class.VALIDATORS["properties"]

    def properties(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema and name not in instance:
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from check_properties(validator, properties, instance, schema)

    return validators.extend(validator_class, {"properties": properties})
