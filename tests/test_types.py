"""``api/static/vaporforge-connect.d.ts`` types what the module exports.

The README's TypeScript host-app example is compiled with ``tsc --noEmit
--strict`` against the d.ts (TypeScript from the npm registry, pinned and cached
by scripts/install-tsc.sh; ``VF_TSC`` names an installed tsc), and the d.ts
declares exactly the values the module exports when node imports it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
STATIC = ROOT / "api" / "static"
DTS = STATIC / "vaporforge-connect.d.ts"
BROKER_MODULE = "https://broker.example.com/static/vaporforge-connect.js"
TSCONFIG = {"compilerOptions": {
    "strict": True, "noEmit": True, "target": "ES2022", "module": "ESNext",
    "moduleResolution": "Bundler", "lib": ["ES2022", "DOM"], "skipLibCheck": False,
    "noUnusedLocals": True, "types": [],
}, "files": ["example.ts"]}


def tsc() -> str:
    found = os.environ.get("VF_TSC")
    if found:
        return found
    return subprocess.run([str(ROOT / "scripts" / "install-tsc.sh")], check=True,
                          capture_output=True, text=True, timeout=300).stdout.strip()


def readme_example() -> str:
    readme = (ROOT / "README.md").read_text()
    found = re.search(r"<!-- host-app-ts .*?-->\n```ts\n(.*?)```", readme, re.S)
    assert found, "the README's TypeScript host-app example is missing"
    assert BROKER_MODULE in found.group(1)
    return found.group(1)


def compile_example(folder: Path, source: str) -> subprocess.CompletedProcess[str]:
    """tsc over `source` as example.ts, importing the module's d.ts from beside it."""
    shutil.copy(DTS, folder / "vaporforge-connect.d.ts")
    (folder / "example.ts").write_text(source.replace(BROKER_MODULE, "./vaporforge-connect.js"))
    (folder / "tsconfig.json").write_text(json.dumps(TSCONFIG))
    return subprocess.run([tsc(), "-p", str(folder)], capture_output=True, text=True,
                          timeout=300, cwd=folder)


def test_the_readme_host_app_example_type_checks(tmp_path: Path):
    result = compile_example(tmp_path, readme_example())
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_misuse_of_the_api_does_not(tmp_path: Path):
    """The check can fail: a wrong mode and a missing await are type errors."""
    wrong = readme_example().replace('mode: "oauth"', 'mode: "oauth2"').replace(
        "return getAccessToken();", "const token: string = getAccessToken(); return token;")
    result = compile_example(tmp_path, wrong)
    assert result.returncode != 0
    assert '"oauth2"' in result.stdout and "Promise<string | null>" in result.stdout


@pytest.mark.skipif(not shutil.which("node"), reason="node is not installed")
def test_the_d_ts_declares_every_exported_value(tmp_path: Path):
    shutil.copytree(STATIC, tmp_path / "static")
    (tmp_path / "static" / "package.json").write_text('{"type": "module"}')
    # exit(): the module's BroadcastChannel would keep node running.
    listed = subprocess.run(
        ["node", "--input-type=module", "-e",
         "const m = await import('./static/vaporforge-connect.js');"
         "console.log(JSON.stringify(Object.keys(m).sort())); process.exit(0)"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path, check=True)
    exported = set(json.loads(listed.stdout))
    declared = set(re.findall(r"^export (?:const|function|class) (\w+)", DTS.read_text(), re.M))
    assert exported == declared
    assert {"connect", "fetchTicket", "refresh", "getAccessToken"} <= exported
