"""Citation metadata: CITATION.cff is valid CFF 1.2.0, and the repository URL, version and
references agree everywhere they appear. The CFF schema in tests/data is the official one
(citation-file-format 1.2.0, CC-BY-4.0), vendored so the check runs offline."""

from __future__ import annotations

import datetime as dt
import json
import re
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

import levpaper

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = json.loads((ROOT / "tests" / "data" / "cff-schema-1.2.0.json").read_text())
CONFIG = yaml.safe_load((ROOT / "_config.yml").read_text())
REPO_URL = CONFIG["repository"]["url"]


def _plain(value: Any) -> Any:
    """YAML dates become strings, as the CFF schema expects."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    return value


def _validate(cff: dict[str, Any]) -> None:
    validator = jsonschema.Draft7Validator(SCHEMA, format_checker=jsonschema.FormatChecker())
    validator.validate(_plain(cff))


def cff() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    return data


def test_citation_cff_is_valid_cff_1_2_0() -> None:
    assert cff()["cff-version"] == "1.2.0"
    _validate(cff())


@pytest.mark.parametrize(
    "damage",
    [
        lambda c: c.pop("authors"),
        lambda c: c.update({"date-released": "24 November 2026"}),
        lambda c: c.update({"type": "paper"}),
        lambda c: c.update({"unknown-key": 1}),
    ],
)
def test_schema_rejects_a_damaged_cff(damage) -> None:  # type: ignore[no-untyped-def]
    data = cff()
    damage(data)
    with pytest.raises(jsonschema.ValidationError):
        _validate(data)


def test_repository_url_is_the_one_in_config() -> None:
    assert cff()["repository-code"] == REPO_URL
    urls = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["urls"]
    assert set(urls.values()) == {REPO_URL}
    readme = (ROOT / "README.md").read_text()
    found = set(re.findall(r"https://github\.com/[\w.-]+/[\w.-]+", readme))
    assert found == {REPO_URL}, found


def test_versions_agree() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["version"] == levpaper.__version__ == cff()["version"]


def test_every_citation_key_exists_and_every_reference_is_cited() -> None:
    bib = (ROOT / "book" / "references.bib").read_text()
    keys = set(re.findall(r"^@\w+\{([^,]+),", bib, flags=re.M))
    text = "\n".join(
        p.read_text() for p in (ROOT / "book").rglob("*") if p.suffix in {".md", ".ipynb"}
    )
    cited = {
        k.strip()
        for group in re.findall(r"\{cite:[a-z]+\}`([^`]+)`", text)
        for k in group.split(",")
    }
    assert cited <= keys, cited - keys
    assert keys <= cited, f"references.bib has uncited entries: {keys - cited}"
    for required in (
        "adams2020uniswap",
        "angeris2019analysis",
        "milionis2022lvr",
        "broadie1997continuity",
        "kelly1956information",
    ):
        assert required in keys


def _public_modules() -> list[str]:
    package = ROOT / "levpaper"
    names = [p.stem for p in package.glob("*.py")]
    names += [p.parent.name for p in package.glob("*/__init__.py")]
    return sorted(n for n in names if not n.startswith("_"))


def test_readme_layout_and_api_reference_list_every_module() -> None:
    modules = _public_modules()
    assert {"pool", "env", "market", "ledger"} <= set(modules)
    readme = (ROOT / "README.md").read_text()
    row = re.search(r"^\| `levpaper/` \|(.*)\|$", readme, flags=re.M)
    assert row is not None, "the README's layout table has no `levpaper/` row"
    listed = set(re.findall(r"`(\w+)`", row.group(1)))
    assert [m for m in modules if m not in listed] == [], "modules missing from README layout"
    api = (ROOT / "book" / "appendix" / "api.md").read_text()
    documented = set(re.findall(r"^\.\. automodule:: levpaper\.(\w+)$", api, flags=re.M))
    assert [m for m in modules if m not in documented] == [], "modules missing from api.md"
    assert sorted(documented - set(modules)) == [], "api.md documents modules that do not exist"
