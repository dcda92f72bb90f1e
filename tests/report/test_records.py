"""paper_checks.json: the committed file validates against the schema, carries every claim of
paper_checks.md, and the three views (markdown, JSON, HTML) come from the same records."""

import json
from pathlib import Path

import jsonschema
import pytest

from rwtheory.report import records
from rwtheory.report.claim import Claim, Quantity
from rwtheory.report.html import render_html
from rwtheory.report.markdown import render_markdown

ROOT = Path(__file__).resolve().parents[2]


class _Report:  # the shape the providers return (provider, claims, details, notes)
    def __init__(self, provider, claims, details=""):
        self.provider, self.claims, self.details, self.notes = provider, claims, details, []


def _claim(key, status="holds", **kw):
    return Claim(
        key,
        "Sec. 1",
        "a claim",
        True,
        "what we check",
        "`rwtheory check`",
        status,
        "3/10 seeds diverge; max 0.25 %",
        **kw,
    )


def _doc():
    return records.ledger_record(
        [
            _Report(
                "a", [_claim("x.one"), _claim("x.two", "fails", evidence=("figures/fig7.png",))]
            ),
            _Report(
                "b",
                [
                    _claim("y", "not checked", scope="not checkable here", reason="no GPU"),
                    _claim(
                        "z",
                        quantities=(Quantity("rho", 1.5),),
                        scope="small analogue",
                        analogue="keeps A, drops B",
                    ),
                ],
                "## B details",
            ),
        ],
        quick=True,
    )


def test_committed_json_validates_and_counts_add_up():
    doc = json.loads((ROOT / "paper_checks.json").read_text(encoding="utf-8"))
    jsonschema.validate(doc, records.load_schema())
    n = len(doc["claims"])
    assert doc["counts"]["total"] == n
    assert sum(doc["counts"]["status"].values()) == n == sum(doc["counts"]["scope"].values())
    assert len({c["id"] for c in doc["claims"]}) == n


def test_committed_markdown_is_the_rendering_of_the_committed_json():
    doc = json.loads((ROOT / "paper_checks.json").read_text(encoding="utf-8"))
    assert (ROOT / "paper_checks.md").read_text(encoding="utf-8") == render_markdown(doc)


def test_schema_rejects_what_the_ledger_must_not_contain():
    schema = records.load_schema()
    doc = _doc()
    jsonschema.validate(doc, schema)
    bad = json.loads(json.dumps(doc))
    bad["claims"][0]["status"] = "probably"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
    bad = json.loads(json.dumps(doc))
    bad["claims"][2]["reason"] = ""  # not checkable without a reason
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
    bad = json.loads(json.dumps(doc))
    bad["claims"][3]["analogue"] = ""  # an analogue that does not say what it keeps
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def test_counts_numbers_and_units():
    doc = _doc()
    assert doc["counts"]["status"] == {
        "holds": 2,
        "holds with caveat": 0,
        "fails": 1,
        "not checked": 1,
    }
    assert doc["counts"]["scope"]["not checkable here"] == 1
    nums = doc["claims"][0]["numbers"]
    assert nums[0] == {"name": "value", "value": 3.0, "unit": "of 10"}
    assert nums[1]["value"] == 0.25 and nums[1]["unit"] == "%"
    assert doc["claims"][3]["numbers"] == [{"name": "rho", "value": 1.5, "unit": ""}]


def test_duplicate_ids_are_refused():
    with pytest.raises(ValueError, match="unique"):
        records.ledger_record([_Report("a", [_claim("x"), _claim("x")])], quick=True)


def test_claim_validation_names_the_field():
    with pytest.raises(ValueError, match="scope"):
        _claim("q", scope="somewhere")
    with pytest.raises(ValueError, match="reason"):
        _claim("q", "not checked", scope="not checkable here")
    with pytest.raises(ValueError, match="analogue"):
        _claim("q", scope="small analogue")


def test_views_agree_on_every_claim():
    doc = _doc()
    md, page = render_markdown(doc), render_html(doc)
    for c in doc["claims"]:
        assert f'id="claim-{c["id"].replace(".", "-")}"' in md
        assert f'id="claim-{c["id"].replace(".", "-")}"' in page
    assert "What fails, and why" in page and "x.two" in page.split('id="summary"')[0]
    assert 'src="../figures/fig7.png"' in page
    assert "http://" not in page and "https://" not in page  # no network dependency


@pytest.mark.parametrize(
    "damage,message",
    [
        (
            lambda d: d["counts"].update(total=-1),
            r"at \$\.counts\.total: -1 is less than the minimum of 0 "
            r"\(schema path: properties/counts/properties/total/minimum\)",
        ),
        (
            lambda d: d["claims"][0].update(scope="galaxy"),
            r"at \$\.claims\[0\]\.scope: 'galaxy' is not one of",
        ),
        (
            lambda d: d["claims"][0].update(id="../../etc"),
            r"at \$\.claims\[0\]\.id: '\.\./\.\./etc' does not match",
        ),
        (
            lambda d: d["claims"][0].update(evidence=["figures/../../x"]),
            r"at \$\.claims\[0\]\.evidence\[0\]",
        ),
        (
            lambda d: d["claims"][1].pop("status"),
            r"at \$\.claims\[1\]: 'status' is a required property",
        ),
        (lambda d: d["claims"][1].update(id=d["claims"][0]["id"]), r"claim ids must be unique"),
        (
            lambda d: d["counts"]["status"].update(fails=2),
            r"the counts must be the tallies of the claims",
        ),
    ],
)
def test_a_ledger_that_breaks_the_schema_is_refused_where_it_breaks_it(damage, message):
    doc = _doc()
    records.check_ledger(doc)
    damage(doc)
    with pytest.raises(ValueError, match=message):
        records.check_ledger(doc)


def test_a_ledger_file_must_be_utf8_json(tmp_path):
    assert records.load_ledger(ROOT / "paper_checks.json")["counts"]["total"] > 0
    for raw, message in (
        (b"", "must not be empty"),
        (b'{"a": 1', r"must be JSON: Expecting .* at line 1, column 8"),
        (b'{"a": NaN}', "must be JSON, got the non-JSON number NaN"),
        (b'{"t\xe9": 1}', "must be UTF-8 text, got byte 0xe9 at position 3"),
        (b"{}", r"at \$: 'schema_version' is a required property"),
    ):
        path = tmp_path / "ledger.json"
        path.write_bytes(raw)
        with pytest.raises(ValueError, match=message):
            records.load_ledger(path)
