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
