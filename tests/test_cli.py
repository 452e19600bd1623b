"""The camid command line as users and scripts meet it: real subprocesses of the installed script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

CAMID = Path(sys.executable).with_name("camid")


def run(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("CAMID_")}
    full_env.update(env or {})
    return subprocess.run([str(CAMID), *args], cwd=cwd, env=full_env, capture_output=True,
                          text=True, timeout=120)


def test_cameras_json_lists_the_ten_cameras(tmp_path: Path) -> None:
    out = run("cameras", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert len(doc["cameras"]) == 10
    by_id = {c["id"]: c for c in doc["cameras"]}
    assert by_id["iPhone-6"]["models"] == ["iPhone 6"]
    assert "iPhone 6 Plus" in by_id["iPhone-6"]["exclude_models"]
    assert by_id["Motorola-X"]["sizes"] == ["4160x3120", "4160x2340"]
    assert by_id["Motorola-Nexus-6"]["makes"] == ["motorola"]
    assert len(doc["registry_hash"]) == 64


def test_cameras_table(tmp_path: Path) -> None:
    out = run("cameras", cwd=tmp_path, env={"COLUMNS": "250"})
    assert out.returncode == 0, out.stderr
    assert "Samsung-Galaxy-Note3" in out.stdout and "6000x4000" in out.stdout


def test_stats_json_on_a_new_catalog_uses_the_default_data_dir(tmp_path: Path) -> None:
    out = run("stats", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["totals"]["candidates"] == 0
    assert (tmp_path / "camid-data" / "catalog.db").exists()


def test_global_options_and_environment(tmp_path: Path) -> None:
    out = run("--data-dir", str(tmp_path / "d1"), "stats", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "d1" / "catalog.db").exists()
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    out = run("stats", cwd=tmp_path, env={"CAMID_CATALOG": url})
    assert out.returncode == 0, out.stderr
    assert "empty" in out.stdout
    assert (tmp_path / "elsewhere.db").exists()


def test_stats_on_a_postgresql_catalog(tmp_path: Path, postgres_url: str) -> None:
    from db import Catalog
    from pipeline.records import Candidate

    with Catalog.open(postgres_url) as catalog:
        catalog.add_candidates([Candidate("flickr", str(i), f"https://x.test/{i}", "iPhone-6")
                                for i in range(3)])
    out = run("--catalog", postgres_url, "stats", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["totals"]["candidates"] == 3
    assert not (tmp_path / "camid-data" / "catalog.db").exists()


@pytest.mark.parametrize(
    ("args", "files", "message"),
    [
        (("--registry", "bad.toml", "cameras"), {"bad.toml": "[cameras.X]\nname = 1\n"},
         "bad.toml: camera 'X': missing required field 'makes'"),
        (("--registry", "missing.toml", "cameras", "--json"), {}, "registry file not found"),
        (("--catalog", "what://", "stats"), {}, "catalog URL"),
        (("--catalog", "sqlite:////proc/forbidden/x.db", "stats"), {}, "error"),
        (("--catalog", "postgresql+psycopg://camid@127.0.0.1:1/camid", "stats"), {},
         "cannot open catalog postgresql+psycopg://camid@127.0.0.1:1/camid"),
        (("export", "x"), {}, "no accepted images in the catalog"),
        (("train", "x"), {}, "x: no manifest.json"),
    ],
)
def test_user_mistakes_are_one_line_errors(tmp_path: Path, args, files, message) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    out = run(*args, cwd=tmp_path)
    assert out.returncode != 0
    assert message in out.stderr
    assert "Traceback" not in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, out.stderr


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    out = run("scrape", "myspace", cwd=tmp_path)
    assert out.returncode == 2
    assert "Traceback" not in out.stderr


def test_help_lists_the_whole_cli_contract(tmp_path: Path) -> None:
    out = run("--help", cwd=tmp_path)
    assert out.returncode == 0
    for command in ("cameras", "scrape", "download", "inspect", "curate", "export", "stats",
                    "train", "evaluate", "predict", "demo", "serve", "signatures"):
        assert command in out.stdout
    for option in ("--catalog", "--data-dir", "--registry"):
        assert option in out.stdout


LIGHT_PROBE = """
import sys
from flows.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
heavy = sorted(m for m in ("torch", "prefect", "albumentations", "torchvision", "aiohttp")
               if m in sys.modules)
print("HEAVY=" + ",".join(heavy), file=sys.stderr)
"""


@pytest.mark.parametrize("args", [("--help",), ("cameras", "--json"), ("stats", "--json")])
def test_light_commands_import_no_heavy_package(tmp_path: Path, args: tuple[str, ...]) -> None:
    out = subprocess.run([sys.executable, "-c", LIGHT_PROBE, *args], cwd=tmp_path, text=True,
                         capture_output=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert "HEAVY=\n" in out.stderr + "\n", out.stderr
