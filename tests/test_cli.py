"""The camid command line as users and scripts meet it: real subprocesses of the installed script."""

from __future__ import annotations

import json
import os
import re
import sqlite3
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
    ("args", "files", "line"),
    [
        (("--registry", "bad.toml", "cameras"), {"bad.toml": "[cameras.X]\nname = 1\n"},
         "camid: error: bad.toml: camera 'X': missing required field 'makes'"),
        (("--registry", "missing.toml", "cameras", "--json"), {},
         "camid: error: missing.toml: registry file not found"),
        (("export", "x"), {}, "camid: error: no accepted images in the catalog: run `camid curate` first"),
        (("train", "x"), {}, "camid: error: x: no manifest.json (not a camid dataset, or export unfinished)"),
    ],
    ids=["malformed-registry", "missing-registry", "export-nothing", "train-no-manifest"],
)
def test_user_mistakes_are_one_line_errors(tmp_path: Path, args, files, line: str) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    out = run(*args, cwd=tmp_path)
    assert out.returncode == 1, out.stderr
    assert out.stderr.splitlines() == [line]
    assert out.stdout == ""


@pytest.mark.parametrize(
    ("args", "start"),
    [
        # what follows the prefix is the driver's or the operating system's own words
        (("--catalog", "what://", "stats"), "camid: error: catalog URL what://: "),
        (("--catalog", "sqlite:////proc/forbidden/x.db", "stats"),
         "camid: error: cannot create the catalog's directory: "),
        (("--catalog", "postgresql+psycopg://camid@127.0.0.1:1/camid", "stats"),
         "camid: error: cannot open catalog postgresql+psycopg://camid@127.0.0.1:1/camid: "),
    ],
    ids=["unknown-dialect", "unwritable-sqlite", "refused-postgresql"],
)
def test_unusable_catalogs_are_one_line_errors(tmp_path: Path, args, start: str) -> None:
    out = run(*args, cwd=tmp_path)
    assert out.returncode == 1, out.stderr
    lines = out.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(start), out.stderr
    assert len(lines[0]) > len(start)  # the cause is named
    assert out.stdout == ""


@pytest.mark.parametrize("command", [("stats",), ("stats", "--json"), ("curate",)])
def test_a_catalog_file_that_is_not_a_database_is_a_one_line_error(tmp_path: Path, command) -> None:
    (tmp_path / "junk.db").write_bytes(b"these are not the droids " * 100)
    out = run("--catalog", "sqlite:///junk.db", *command, cwd=tmp_path)
    assert out.returncode == 1, out.stderr
    assert out.stderr.splitlines() == ["camid: error: cannot open catalog sqlite:///junk.db: "
                                       "file is not a database"]
    assert out.stdout == ""


def _catalog_with_data(path: Path) -> None:
    from db import Catalog
    from pipeline.records import Candidate

    with Catalog.open(f"sqlite:///{path}") as catalog:
        catalog.add_candidates([Candidate("flickr", str(i), f"https://x.test/{i}/" + "p" * 200,
                                          "iPhone-6", author=f"u{i}") for i in range(2000)])
    sqlite3.connect(path).close()  # the last connection closed: the WAL is in the file


def _damage_candidates(path: Path) -> None:
    """Overwrite the root page of the candidates table and of each of its indexes."""
    with sqlite3.connect(path) as conn:
        size = conn.execute("PRAGMA page_size").fetchone()[0]
        roots = [r for (r,) in conn.execute(
            "SELECT rootpage FROM sqlite_master WHERE tbl_name = 'candidates' AND rootpage > 0")]
    conn.close()
    with open(path, "r+b") as fh:
        for root in roots:
            fh.seek((root - 1) * size)
            fh.write(b"\xde\xad" * (size // 2))


CATALOG_COMMANDS = [("stats",), ("stats", "--json"), ("curate",)]  # stats: fast path, then Catalog


@pytest.mark.parametrize("command", CATALOG_COMMANDS)
def test_a_damaged_catalog_is_one_line_naming_the_file_and_left_alone(tmp_path: Path,
                                                                       command) -> None:
    path = tmp_path / "cat.db"
    _catalog_with_data(path)
    _damage_candidates(path)
    before = path.read_bytes()
    out = run("--catalog", "sqlite:///cat.db", *command, cwd=tmp_path)
    assert out.returncode == 1, out.stderr
    lines = out.stderr.splitlines()
    assert len(lines) == 1 and re.fullmatch(
        r"camid: error: catalog sqlite:///cat\.db is damaged: database disk image is malformed; "
        r"integrity check: Page \d+: .+ \(the file is left as it is: restore a backup, or try "
        r"`sqlite3 cat\.db \.recover`\)", lines[0]), out.stderr
    assert path.read_bytes() == before


@pytest.mark.parametrize("command", [*CATALOG_COMMANDS, ("export", "x")])
def test_a_catalog_of_a_newer_camid_is_one_line_and_left_alone(tmp_path: Path, command) -> None:
    from db.migrate import HEAD

    path = tmp_path / "cat.db"
    _catalog_with_data(path)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE alembic_version SET version_num = '9999'")
    conn.close()
    before = path.read_bytes()
    out = run("--catalog", "sqlite:///cat.db", *command, cwd=tmp_path)
    assert out.returncode == 1, out.stderr
    assert out.stderr.splitlines() == [
        f"camid: error: cannot open catalog sqlite:///cat.db: revision 9999 is newer than this "
        f"camid (newest known: {HEAD}); use the camid that wrote it, or a newer one"]
    assert path.read_bytes() == before and out.stdout == ""


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (("scrape", "myspace"),
         "camid: error: invalid value for '{flickr|wikimedia|reviews|dir}': 'myspace' is not one of "
         "'flickr', 'wikimedia', 'reviews', 'dir' (camid scrape --help)"),
        (("stats", "--nope"), "camid: error: no such option '--nope' (camid stats --help)"),
        (("export", "x", "--val-per-class", "5", "--val-fraction", "0.2"),
         "camid: error: give --val-per-class or --val-fraction, not both (camid export --help)"),
        (("export", "x", "--test-per-class", "5", "--test-fraction", "0.2"),
         "camid: error: give --test-per-class or --test-fraction, not both (camid export --help)"),
        (("export", "x", "--test-per-class", "-1"),
         "camid: error: invalid value for '--test-per-class': -1 is not in the range x>=0 "
         "(camid export --help)"),
        (("frobnicate",), "camid: error: no such command 'frobnicate' (camid --help)"),
        (("export",), "camid: error: missing argument 'NAME' (camid export --help)"),
        (("scrape", "wikimedia", "--depth", "-1"),
         "camid: error: invalid value for '--depth': -1 is not in the range x>=0 (camid scrape --help)"),
    ],
    ids=["bad-choice", "unknown-option", "exclusive-options", "exclusive-test-options", "negative-test",
         "unknown-command", "missing-argument", "out-of-range"],
)
def test_usage_errors_are_one_line_and_exit_2(tmp_path: Path, args, line: str) -> None:
    out = run(*args, cwd=tmp_path)
    assert out.returncode == 2, out.stderr
    assert out.stderr.splitlines() == [line]
    assert out.stdout == ""


def test_the_export_summary_says_test_counts_and_whether_its_devices_are_unseen() -> None:
    from flows.cli.render import export_summary
    from flows.stages.curate import ExportReport

    report = ExportReport(Path("d"), 30, 10, 12, 48, {}, test=9, test_devices_unseen=True)
    assert export_summary(report) == (
        "wrote d: 30 train, 10 validation, 9 test images (test devices unseen in train; "
        "12 device/uploader/duplicate groups, 48 near-duplicate clusters)")
    assert "SOME TEST DEVICES ARE ALSO IN TRAIN" in export_summary(
        ExportReport(Path("d"), 30, 10, 12, 48, {}, test=9, test_devices_unseen=False))
    assert "(no test split;" in export_summary(ExportReport(Path("d"), 30, 10, 12, 48, {}))


def test_the_export_names_the_classes_a_split_is_short_of() -> None:
    from flows.cli.render import shortfall_lines
    from flows.stages.curate import ExportReport
    from pipeline.split import Shortfall

    short = (Shortfall("test", "A", 6, 5), Shortfall("test", "B", 6, 0), Shortfall("val", "B", 6, 0))
    lines = shortfall_lines(ExportReport(Path("d"), 30, 10, 12, 48, {}, test=5, shortfalls=short))
    assert lines == [f"  test is short in 2 class(es), {short[0].reason}: A 5/6, B 0/6",
                     f"  val is short in 1 class(es), {short[0].reason}: B 0/6"]


def test_bare_camid_still_shows_the_help(tmp_path: Path) -> None:
    out = run(cwd=tmp_path)
    assert out.returncode == 2 and out.stderr.startswith("Usage: camid [OPTIONS] COMMAND")


def test_help_lists_the_whole_cli_contract(tmp_path: Path) -> None:
    out = run("--help", cwd=tmp_path)
    assert out.returncode == 0
    for command in ("cameras", "scrape", "download", "inspect", "curate", "export", "stats",
                    "train", "evaluate", "predict", "export-model", "demo", "serve", "signatures"):
        assert command in out.stdout
    for option in ("--catalog", "--data-dir", "--registry"):
        assert option in out.stdout


LIGHT_PROBE = """
import sys
from flows.cli import main
code = "no exit"
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
print(f"CODE={code}", file=sys.stderr)
heavy = sorted(m for m in ("torch", "prefect", "albumentations", "torchvision", "aiohttp")
               if m in sys.modules)
print("HEAVY=" + ",".join(heavy), file=sys.stderr)
"""


@pytest.mark.parametrize("args", [("--help",), ("cameras", "--json"), ("stats", "--json")])
def test_light_commands_import_no_heavy_package(tmp_path: Path, args: tuple[str, ...]) -> None:
    out = subprocess.run([sys.executable, "-c", LIGHT_PROBE, *args], cwd=tmp_path, text=True,
                         capture_output=True, timeout=120, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert out.returncode == 0 and "CODE=0\n" in out.stderr, out.stderr
    assert "HEAVY=\n" in out.stderr + "\n", out.stderr
