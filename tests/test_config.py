"""Config errors stop the run with a message naming the file and key."""

from __future__ import annotations

import pytest

from trialeval.errors import TrialInputError


def test_tiny_trial_resolves(tiny):
    spec = tiny.spec()
    assert spec["control_arm"] == "ctl"
    assert spec["baseline"] == "t0"
    assert [o["id"] for o in spec["outcomes"]] == ["sc", "fl"]
    scs = spec["instruments"]["scs_sf"]
    assert [i["id"] for i in scs["items"] if i["reverse"]] == ["1", "4", "8", "9", "11", "12"]
    assert spec["instruments"]["flourishing"]["subscales"]["total"]["range"] == [8, 56]


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda t: t["outcomes"].append({"id": "x", "instrument": "nope", "subscale": "total"}),
            "instrument 'nope' is not in",
        ),
        (
            lambda t: t["outcomes"].append({"id": "x", "instrument": "mbi", "subscale": "zz"}),
            "subscale 'zz' is not a subscale of mbi",
        ),
        (
            lambda t: t["outcomes"].append({"id": "x", "instrument": "mbi", "category": "zz"}),
            "category 'zz' is not a category of mbi",
        ),
        (
            lambda t: t["outcomes"].append({"id": "sc", "instrument": "mbi", "subscale": "ee"}),
            "outcome 'sc' is listed twice",
        ),
        (lambda t: t["arms"][0].update(control=True), "exactly one arm with `control: true`"),
        (lambda t: t["arms"][1].update(control=False), "found 0 (none)"),
        (lambda t: t["timepoints"][1].update(baseline=True), "exactly one timepoint"),
        (lambda t: t.update(design="rcx"), "does not match trial.schema.yaml"),
        (lambda t: t.update(colour="blue"), "colour"),
        (
            lambda t: t["instruments"].update(
                mbi={"label": "x", "prescored": {"column": "m", "range": [0, 1]}}
            ),
            "already defined in",
        ),
        (
            lambda t: t["analysis_sets"]["per_protocol"].update(arms=["ghost"]),
            "unknown arms ['ghost']",
        ),
        (
            lambda t: t["timepoints"][0].update(file={"path": "w.csv", "encoding": "klingon"}),
            "timepoints[0].file.encoding: unknown encoding 'klingon'",
        ),
        (
            lambda t: t["timepoints"][0].update(file={"path": "w.csv", "delimter": ";"}),
            "does not match trial.schema.yaml",
        ),
        (
            lambda t: t["timepoints"][0].update(file={"path": "w.csv", "header_row": 0}),
            "does not match trial.schema.yaml",
        ),
        (
            lambda t: t["covariates"][0].update(range=[80, 16]),
            "covariates (age): `range` is [lowest, highest] of a numeric covariate",
        ),
    ],
)
def test_config_errors_name_file_and_key(tiny, edit, message):
    tiny.trial.setdefault("instruments", {})
    edit(tiny.trial)
    with pytest.raises(TrialInputError) as info:
        tiny.spec()
    assert message in str(info.value)
    assert "tiny.yaml" in str(info.value)


def test_trial_defined_instrument(tiny):
    tiny.trial["instruments"] = {
        "wellbeing_total": {
            "label": "Pre-scored wellbeing index",
            "prescored": {"column": "wb", "range": [0, 100]},
        }
    }
    tiny.trial["outcomes"].append(
        {"id": "wb", "instrument": "wellbeing_total", "subscale": "score"}
    )
    spec = tiny.spec()
    assert spec["instruments"]["wellbeing_total"]["items"][0]["column"] == "wb"


def test_trial_instrument_is_checked_against_the_registry_schema(tiny):
    # no label: the schema names the key path inside the trial file, not a raw KeyError
    tiny.trial["instruments"] = {"wb_total": {"prescored": {"column": "wb", "range": [0, 100]}}}
    tiny.trial["outcomes"].append({"id": "wb", "instrument": "wb_total", "subscale": "score"})
    with pytest.raises(TrialInputError) as info:
        tiny.spec()
    message = str(info.value)
    assert "tiny.yaml: does not match trial.schema.yaml" in message
    assert "at instruments.wb_total: 'label' is a required property" in message
    # an item-level instrument without its items
    tiny.trial["instruments"] = {
        "wb_total": {"label": "Wellbeing", "item_range": [0, 4], "subscales": {}}
    }
    with pytest.raises(TrialInputError, match="at instruments.wb_total: 'items' is a required"):
        tiny.spec()
    # a wrong type deep inside: the full key path
    tiny.trial["instruments"] = {
        "wb_total": {
            "label": "Wellbeing",
            "prescored": {"column": "wb", "range": [0, 100]},
            "categories": {"low": {"subscale": "score", "at_most": "twelve"}},
        }
    }
    with pytest.raises(TrialInputError) as info:
        tiny.spec()
    assert "at instruments.wb_total.categories.low.at_most: 'twelve' is not of type" in str(
        info.value
    )


def test_prescored_instrument_cannot_also_have_items(tiny):
    tiny.trial["instruments"] = {
        "wb_total": {
            "label": "Wellbeing",
            "prescored": {"column": "wb", "range": [0, 100]},
            "items": 3,
        }
    }
    tiny.trial["outcomes"].append({"id": "wb", "instrument": "wb_total", "subscale": "score"})
    with pytest.raises(TrialInputError, match=r"tiny.yaml: wb_total has `prescored` and items"):
        tiny.spec()


def test_prescored_instrument_with_a_cut_off_category(tiny):
    tiny.trial["instruments"] = {
        "dep_total": {
            "label": "Depression total",
            "prescored": {"column": "dep", "range": [0, 27]},
            "categories": {
                "depressed": {"label": "Depression (>= 14)", "subscale": "score", "at_least": 14}
            },
        }
    }
    tiny.trial["outcomes"].append(
        {"id": "depressed", "instrument": "dep_total", "category": "depressed"}
    )
    spec = tiny.spec()
    outcome = next(o for o in spec["outcomes"] if o["id"] == "depressed")
    assert (outcome["kind"], outcome["name"], outcome["label"]) == (
        "category",
        "depressed",
        "Depression (>= 14)",
    )
    rule = spec["instruments"]["dep_total"]["categories"]["depressed"]
    assert (rule["subscale"], rule["at_least"]) == ("score", 14)


def test_schema_error_names_the_key_path(tiny):
    tiny.trial["timepoints"][1]["baseline"] = "sometimes"
    with pytest.raises(TrialInputError) as info:
        tiny.spec()
    # jsonschema: 'sometimes' is not of type 'boolean', at the key path in the trial file
    assert "at timepoints[1].baseline: 'sometimes' is not of type 'boolean'" in str(info.value)


def test_file_as_a_path_or_an_object(tiny):
    """A `file` is a path (everything detected) or an object; both resolve to a path for the
    rules and a read spec for the readers."""
    tiny.trial["data"]["sheet"] = "responses"
    tiny.trial["timepoints"][1]["file"] = {
        "path": "wave1.csv",
        "header_row": 2,
        "encoding": "cp1252",
        "delimiter": ";",
        "missing_codes": [-99, "N/A"],
    }
    spec = tiny.spec()
    first, second = spec["timepoints"]
    assert first["file"] == str(tiny.data_dir / "wave0.csv")
    registry_names = {f"scs_{i}": f"scs_{i}" for i in range(1, 13)}
    registry_names.update({f"fs_{i}": f"fs_{i}" for i in range(1, 9)})
    assert first["source"] == {
        "path": first["file"],
        "sheet": "responses",
        "header_row": 1,
        "encoding": None,
        "delimiter": None,
        "missing_codes": [],
        "format": None,  # detected
        "id_column": "pid",  # data.id_column
        "columns": registry_names,  # item columns named as in the registry
        "event": [],
        "dictionary": None,
        "forms_complete": "complete",
    }
    assert second["file"] == str(tiny.data_dir / "wave1.csv")
    assert second["source"]["header_row"] == 2 and second["source"]["delimiter"] == ";"
    assert second["source"]["missing_codes"] == [-99, "N/A"]
    assert spec["participants_source"]["path"] == spec["participants_file"]
