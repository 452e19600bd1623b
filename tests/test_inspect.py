"""`camid inspect`: the JSON Lines contract and the table, through the installed script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from flows.stages.inspect import CONTRACT_KEYS, EXTRA_KEYS, STRUCTURED_KEYS
from tests import jpegs

CAMID = Path(sys.executable).with_name("camid")

# the documented contract, spelled out again so that a change to the module is noticed here
CONTRACT = ("path", "format", "width", "height", "make", "model", "software", "quality_imagemagick",
            "quality", "ijg_exact", "label", "accepted", "reasons", "error")


def camid(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAMID_")}
    env["COLUMNS"] = "250"
    return subprocess.run([str(CAMID), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("inspect")
    made = {
        "good.jpg": jpegs.native_iphone6(),
        "gimp.jpg": jpegs.make_jpeg(software="GIMP 2.8"),
        "truncated.jpg": jpegs.native_iphone6()[:20000],
        "header-cut.jpg": jpegs.native_iphone6()[:100],
        "png.jpg": b"\x89PNG\r\n\x1a\n" + bytes(64),
        "empty.jpg": b"",
        "name with spaces é.jpg": jpegs.make_jpeg(exif=False),
    }
    paths = {}
    for name, data in made.items():
        paths[name] = folder / name
        paths[name].write_bytes(data)
    paths["missing.jpg"] = folder / "missing.jpg"
    return paths


def test_contract_keys_are_the_documented_ones() -> None:
    assert CONTRACT_KEYS == CONTRACT
    assert not set(CONTRACT) & set(EXTRA_KEYS)


def test_json_lines_for_good_bad_and_missing_files(files: dict[str, Path], tmp_path: Path) -> None:
    out = camid("inspect", "--json", *map(str, files.values()), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == len(files)
    docs = [json.loads(line) for line in lines]
    for doc, path in zip(docs, files.values(), strict=True):
        assert tuple(doc)[:len(CONTRACT)] == CONTRACT  # contract keys first, in order
        assert set(doc) == set(CONTRACT) | set(EXTRA_KEYS) | set(STRUCTURED_KEYS)
        assert set(doc["details"]) == set(doc["reasons"])  # every reason with its measured value
        assert doc["path"] == str(path)
        assert isinstance(doc["accepted"], bool) and isinstance(doc["reasons"], list)
        assert doc["accepted"] == (doc["reasons"] == [])
    by_name = {Path(d["path"]).name: d for d in docs}

    good = by_name["good.jpg"]
    assert good["accepted"] is True and good["reasons"] == [] and good["error"] is None
    assert (good["format"], good["width"], good["height"]) == ("jpeg", 3264, 2448)
    assert (good["make"], good["model"], good["software"]) == ("Apple", "iPhone 6", "8.3")
    assert (good["quality"], good["quality_imagemagick"], good["ijg_exact"]) == (96, 96, True)
    assert good["label"] == "iPhone-6"
    assert good["has_exif"] is True and good["has_eoi"] is True and good["xmp_history_agents"] == []
    assert good["signature"]["markers"].startswith("APP0:JFIF APP1:Exif DQT:0 DQT:1 SOF0")
    assert good["signature"]["tables"] == "ijg:96" and len(good["signature"]["id"]) == 55
    assert good["pixels"]["decoder"].startswith("libjpeg-turbo") and good["pixels"]["decode_warning"] is None
    assert good["scan_bpp"] > 1 and good["flags"] == []

    assert by_name["gimp.jpg"]["reasons"] == ["edited_software", "non_native_size"]
    assert by_name["gimp.jpg"]["label"] == "iPhone-6"
    assert by_name["gimp.jpg"]["details"]["edited_software"] == "Software 'GIMP 2.8'"
    assert by_name["truncated.jpg"]["reasons"] == ["truncated"]
    assert by_name["truncated.jpg"]["width"] == 3264  # the header was whole
    cut = by_name["header-cut.jpg"]
    assert cut["reasons"] == ["truncated"] and cut["error"] and cut["width"] is None
    assert by_name["png.jpg"]["format"] == "png" and by_name["png.jpg"]["reasons"] == ["not_jpeg"]
    assert by_name["empty.jpg"]["format"] == "empty" and by_name["empty.jpg"]["reasons"] == ["not_jpeg"]
    assert by_name["name with spaces é.jpg"]["reasons"] == ["no_exif", "unknown_camera"]

    missing = by_name["missing.jpg"]
    assert missing["reasons"] == ["unreadable"] and missing["accepted"] is False
    assert "cannot read file" in missing["error"]
    # unknown values are null, not absent or empty
    for key in ("format", "width", "height", "make", "model", "software", "quality_imagemagick",
                "quality", "ijg_exact", "label"):
        assert missing[key] is None, key


def test_json_with_a_policy(files: dict[str, Path], tmp_path: Path) -> None:
    policy = tmp_path / "relaxed.toml"
    policy.write_text("[checks]\nnative_size = false\n[software]\nunknown_is_edit = false\n")
    out = camid("inspect", "--json", "--policy", str(policy), str(files["gimp.jpg"]), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["reasons"] == ["edited_software"]  # GIMP is a known editor


def test_bad_policy_is_a_one_line_error(files: dict[str, Path], tmp_path: Path) -> None:
    policy = tmp_path / "bad.toml"
    policy.write_text('[quality]\nestimate = "exiftool"\n')
    out = camid("inspect", "--json", "--policy", str(policy), str(files["good.jpg"]), cwd=tmp_path)
    assert out.returncode == 1 and out.stdout == ""
    assert f"{policy}: [quality]: field 'estimate'" in out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_table(files: dict[str, Path], tmp_path: Path) -> None:
    names = ("good.jpg", "gimp.jpg", "missing.jpg", "png.jpg")
    out = camid("inspect", *(str(files[n]) for n in names), cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "4 file(s)" in text
    for name in names:
        assert name in text
    assert "accepted" in text and "Apple iPhone 6" in text and "3264x2448" in text and "iPhone-6" in text
    assert "edited_software" in text and "unreadable" in text and "not_jpeg" in text
    assert "96 / 96" in text


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_a_fifo_or_a_folder_is_unreadable_at_once_not_waited_on(files: dict[str, Path],
                                                                tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)  # nobody ever writes to it: opening it to read would wait forever
    out = subprocess.run([str(CAMID), "inspect", "--json", str(fifo), str(tmp_path),
                          str(files["good.jpg"])], cwd=tmp_path, capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, out.stderr
    docs = [json.loads(line) for line in out.stdout.splitlines()]
    assert [(d["error"], d["reasons"]) for d in docs[:2]] == [
        ("cannot read file: not a regular file (a FIFO)", ["unreadable"]),
        ("cannot read file: not a regular file (a directory)", ["unreadable"])]
    assert docs[2]["accepted"] is True  # the files after it are judged as usual


def test_no_files_is_a_usage_error(tmp_path: Path) -> None:
    out = camid("inspect", cwd=tmp_path)
    assert out.returncode == 2 and "Traceback" not in out.stderr


def test_hostile_files_leave_stderr_quiet(tmp_path: Path) -> None:
    """Malformed EXIF is reported in the JSON (``corrupt``), not as library warnings on stderr."""
    tiff = jpegs.build_tiff(jpegs.camera_ifd0()).patched(8, 0xFFFF, 2)
    path = tmp_path / "hostile.jpg"
    path.write_bytes(jpegs.with_exif_tiff(jpegs.make_jpeg(), tiff.data))
    out = camid("inspect", "--json", str(path), cwd=tmp_path)
    assert out.returncode == 0 and out.stderr == ""
    assert "declares 65535 entries" in json.loads(out.stdout)["corrupt"]
