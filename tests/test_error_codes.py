"""The README's error table is the ErrorCode vocabulary, and the API's status
table agrees with it."""

from __future__ import annotations

import re
from pathlib import Path

from api.errors import STATUS
from vaporforge.errors import ErrorCode

README = Path(__file__).resolve().parent.parent / "README.md"
ROW = re.compile(r"^\| `([a-z_]+)` \| (\d{3}|—|other) \|", re.MULTILINE)


def readme_table() -> dict[str, str]:
    section = README.read_text().split("### Error codes", 1)[1].split("\n## ", 1)[0]
    return dict(ROW.findall(section))


def test_the_readme_table_is_the_enum():
    assert set(readme_table()) == {code.value for code in ErrorCode}


def test_each_code_has_the_documented_status():
    for code, status in readme_table().items():
        expected = STATUS.get(ErrorCode(code))
        if status.isdigit():
            assert expected == int(status), code
        else:
            assert expected is None, code


STATIC = README.parent / "api" / "static"
BROWSER_ROW = re.compile(r"^\| `([a-z_]+)` \| — \(browser\) \|", re.MULTILINE)
THROWN = re.compile(r"new VaporForgeError\(\s*\"([a-z_]+)\"")
COMPARED = re.compile(r"\bcode\s*[!=]==\s*\"([a-z_]+)\"")
KEYS = re.compile(r"^\s*([a-z_]+):", re.MULTILINE)


def page_scripts() -> str:
    files = sorted(p for p in STATIC.rglob("*.js") if "vendor" not in p.parts)
    assert files, STATIC
    return "\n".join(f.read_text() for f in files)


def object_keys(source: str, name: str) -> set[str]:
    """The keys of ``const NAME = {...};`` (one key per line or after ``{``)."""
    found = re.findall(rf"const {name} = \{{(.*?)\}};", source, re.DOTALL)
    assert len(found) == 1, f"const {name} = {{...}} not found once in api/static"
    return set(KEYS.findall("\n" + found[0].replace("{", "\n").replace(",", ",\n")))


def page_codes() -> set[str]:
    """Every error code the page's scripts make or look for: codes thrown as a
    VaporForgeError, codes compared against, the ended states a poll turns into
    a code (ENDED), the codes with plain words (PLAIN) and the retried ones."""
    source = page_scripts()
    transient = re.findall(r"const TRANSIENT = new Set\(\[(.*?)\]\)", source, re.DOTALL)
    assert len(transient) == 1
    return (set(THROWN.findall(source)) | set(COMPARED.findall(source))
            | object_keys(source, "ENDED") | object_keys(source, "PLAIN")
            | set(re.findall(r"\"([a-z_]+)\"", transient[0])))


def test_the_page_finds_its_codes():
    codes = page_codes()
    assert {"network_error", "decrypt_failed", "not_sealed", "rate_limited",
            "refresh_rejected", "cancelled"} <= codes


def test_the_readme_browser_rows_are_the_page_codes_the_broker_lacks():
    section = README.read_text().split("### Error codes", 1)[1].split("\n## ", 1)[0]
    browser = set(BROWSER_ROW.findall(section))
    assert browser == page_codes() - {code.value for code in ErrorCode}
    assert not browser & {code.value for code in ErrorCode}
