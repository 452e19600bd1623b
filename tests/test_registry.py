"""The camera registry: the built-in ten cameras, matching by EXIF, and validation of user files."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import RegistryError
from pipeline.records import Reason
from pipeline.registry_load import load_registry

CHALLENGE = ("HTC-1-M7", "iPhone-4s", "iPhone-6", "Motorola-Droid-Maxx", "Motorola-X",
             "Samsung-Galaxy-S4", "LG-Nexus-5x", "Motorola-Nexus-6", "Samsung-Galaxy-Note3",
             "Sony-NEX-7")


def test_builtin_registry_has_the_ten_challenge_cameras(registry) -> None:
    assert registry.ids == CHALLENGE
    assert len(registry.hash) == 64
    for cam in registry.cameras:
        assert cam.makes and cam.models and cam.sizes
        assert cam.min_quality == 95
        assert cam.queries.flickr_camera and cam.queries.commons_categories


@pytest.mark.parametrize(
    ("make", "model", "label", "reason"),
    [
        ("Apple", "iPhone 6", "iPhone-6", None),
        ("apple", "  iPhone   6 ", "iPhone-6", None),  # case and padding vary across firmware
        ("Apple", "iPhone 6 Plus", None, Reason.EXCLUDED_MODEL),
        ("Apple", "iPhone 6s", None, Reason.EXCLUDED_MODEL),
        ("Apple", "iPhone 4S", "iPhone-4s", None),
        ("Apple", "iPhone 4", None, Reason.EXCLUDED_MODEL),
        ("Apple", "iPhone 7", None, Reason.UNKNOWN_CAMERA),
        ("Canon", "iPhone 6", None, Reason.UNKNOWN_CAMERA),  # right model, wrong make
        ("HTC", "HTC One", "HTC-1-M7", None),
        ("HTC", "HTC6500LVW", "HTC-1-M7", None),
        ("HTC", "HTC One_M8", None, Reason.EXCLUDED_MODEL),
        ("motorola", "XT1080", "Motorola-Droid-Maxx", None),
        ("motorola", "XT1060", None, Reason.EXCLUDED_MODEL),  # 2013 Moto X
        ("motorola", "XT1096", "Motorola-X", None),
        ("motorola", "XT1092", "Motorola-X", None),
        ("motorola", "XT1085", "Motorola-X", None),
        ("motorola", "Nexus 6", "Motorola-Nexus-6", None),
        ("motorola", "Nexus 6P", None, Reason.EXCLUDED_MODEL),
        ("LGE", "Nexus 5X", "LG-Nexus-5x", None),
        ("LGE", "Nexus 5", None, Reason.EXCLUDED_MODEL),
        ("SAMSUNG", "SCH-I545", "Samsung-Galaxy-S4", None),
        ("samsung", "GT-I9505", "Samsung-Galaxy-S4", None),
        ("SAMSUNG", "SAMSUNG-SM-N900A", "Samsung-Galaxy-Note3", None),
        ("samsung", "SM-N9005", "Samsung-Galaxy-Note3", None),
        ("SAMSUNG", "SM-N7505", None, Reason.EXCLUDED_MODEL),
        ("SONY", "NEX-7", "Sony-NEX-7", None),
        ("SONY", "NEX-6", None, Reason.EXCLUDED_MODEL),
        (None, "NEX-7", None, Reason.UNKNOWN_CAMERA),
        ("SONY", None, None, Reason.UNKNOWN_CAMERA),
        ("", "", None, Reason.UNKNOWN_CAMERA),
    ],
)
def test_label_comes_from_exif_make_and_model(registry, make, model, label, reason) -> None:
    match = registry.match(make, model)
    assert (match.label, match.reason) == (label, reason)


@pytest.mark.parametrize(
    ("camera", "size", "native"),
    [
        ("iPhone-6", (3264, 2448), True),
        ("iPhone-6", (2448, 3264), True),  # portrait: either orientation is native
        ("iPhone-6", (3264, 2446), False),
        ("Motorola-X", (4160, 2340), True),
        ("Motorola-X", (4320, 2432), False),  # 2013 Moto X size
        ("Samsung-Galaxy-S4", (3096, 4128), True),
        ("Sony-NEX-7", (6000, 4000), True),
        ("Sony-NEX-7", (3000, 2000), False),  # downscaled
    ],
)
def test_native_sizes_in_either_orientation(registry, camera, size, native) -> None:
    assert registry.get(camera).is_native_size(*size) is native


@pytest.mark.parametrize(
    ("camera", "software", "firmware"),
    [
        ("iPhone-6", "8.1.2", True),
        ("iPhone-6", "", True),
        ("iPhone-6", "Adobe Photoshop Lightroom 5.7 (Windows)", False),
        ("iPhone-6", "Snapseed 2.0", False),
        ("LG-Nexus-5x", "bullhead-user 7.0 NRD90M 3085278 release-keys", True),
        ("LG-Nexus-5x", "HDR+ 1.0.141153404z", True),
        ("Motorola-Nexus-6", "HDR+ 1.0.125145896", True),
        ("Samsung-Galaxy-S4", "I9505XXUGNG8", True),
        ("Samsung-Galaxy-Note3", "N9005XXUGNG1", True),
        ("Samsung-Galaxy-Note3", "GIMP 2.8.10", False),
        ("Sony-NEX-7", "NEX-7 v1.01", True),
        ("HTC-1-M7", "Instagram", False),
    ],
)
def test_firmware_software_is_not_an_edit(registry, camera, software, firmware) -> None:
    assert registry.get(camera).is_firmware_software(software) is firmware


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mine.toml"
    path.write_text(text)
    return path


def test_user_file_adds_and_overrides_cameras(tmp_path: Path, registry) -> None:
    path = write(tmp_path, """
[defaults]
min_quality = 92

[cameras.Google-Pixel-3]
name = "Google Pixel 3"
makes = ["Google"]
models = ["Pixel 3"]
sizes = ["4032x3024"]
firmware_software = ['^HDR\\+ ']

[cameras.iPhone-6]
sizes = ["3264x2448", "3264x1836"]

[cameras.Sony-NEX-7]
enabled = false
""")
    merged = load_registry(path)
    assert merged.ids[-1] == "Google-Pixel-3"
    assert "Sony-NEX-7" not in merged
    assert merged.get("Google-Pixel-3").min_quality == 92
    assert merged.get("iPhone-6").sizes == ((3264, 2448), (3264, 1836))
    assert merged.get("iPhone-6").models == ("iPhone 6",)  # fields not named are kept
    assert merged.match("Google", "Pixel 3").label == "Google-Pixel-3"
    assert merged.hash != registry.hash
    assert merged.files == ("cameras.toml (built in)", str(path))


def test_user_can_turn_an_exclusion_into_a_camera(tmp_path: Path) -> None:
    merged = load_registry(write(tmp_path, """
[cameras.Huawei-Nexus-6P]
name = "Huawei Nexus 6P"
makes = ["Huawei"]
models = ["Nexus 6P"]
sizes = ["4032x3024"]
"""))
    assert merged.match("Huawei", "Nexus 6P").label == "Huawei-Nexus-6P"
    assert merged.match("motorola", "Nexus 6P").reason is Reason.EXCLUDED_MODEL


def test_registry_from_environment(tmp_path: Path, monkeypatch) -> None:
    path = write(tmp_path, "[cameras.iPhone-6]\nmin_quality = 90\n")
    monkeypatch.setenv("CAMID_REGISTRY", str(path))
    assert load_registry().get("iPhone-6").min_quality == 90


def test_hash_ignores_comments_and_key_order(tmp_path: Path, registry) -> None:
    same = load_registry(write(tmp_path, "# only a comment\n[cameras]\n"))
    assert same.hash == registry.hash


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[cameras.iPhone-6\n", "not valid TOML"),
        ("[camera.X]\nname='x'\n", "unknown top-level key(s): camera"),
        ("[cameras.iPhone-6]\nsize = ['1x1']\n", "camera 'iPhone-6': unknown field(s): size"),
        ("[cameras.New]\nname = 'n'\nmakes = ['A']\nmodels = ['B']\n",
         "camera 'New': missing required field 'sizes'"),
        ("[cameras.New]\nname = 'n'\nmakes = ['A']\nmodels = ['B']\nsizes = ['4000by3000']\n",
         "camera 'New': field 'sizes': '4000by3000' is not WIDTHxHEIGHT"),
        ("[cameras.New]\nname = 'n'\nmakes = []\nmodels = ['B']\nsizes = ['40x30']\n",
         "camera 'New': field 'makes' must not be empty"),
        ("[cameras.New]\nname = 'n'\nmakes = 'A'\nmodels = [1]\nsizes = ['40x30']\n",
         "camera 'New': field 'models': must be a list of non-empty strings"),
        ("[cameras.iPhone-6]\nmin_quality = 101\n",
         "camera 'iPhone-6': field 'min_quality': must be an integer from 1 to 100"),
        ("[cameras.iPhone-6]\nmin_quality = '95'\n", "field 'min_quality'"),
        ("[defaults]\nmin_quality = 0\n", "[defaults]: field 'min_quality'"),
        ("[cameras.iPhone-6]\nfirmware_software = ['(unclosed']\n",
         "camera 'iPhone-6': field 'firmware_software': bad regex '(unclosed'"),
        ("[cameras.iPhone-6]\nenabled = 'no'\n", "camera 'iPhone-6': field 'enabled'"),
        ("[cameras.iPhone-6]\nqueries = {flickr = ['x']}\n",
         "camera 'iPhone-6': unknown field(s) in 'queries': flickr"),
        ("[cameras.'bad id!']\nname = 'x'\n", "camera 'bad id!': id must be"),
        ("[cameras.Copy]\nname = 'c'\nmakes = ['Apple']\nmodels = ['iPhone 6']\nsizes = ['40x30']\n",
         "camera 'Copy': field 'models': 'iPhone 6' is claimed by both 'iPhone-6' and 'Copy'"),
    ],
)
def test_bad_registry_files_name_file_entry_and_field(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(RegistryError) as err:
        load_registry(path)
    message = str(err.value)
    assert message.startswith(str(path)), message
    assert expected in message
    assert "\n" not in message


def test_missing_registry_file(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="registry file not found"):
        load_registry(tmp_path / "nope.toml")


def test_disabling_every_camera_is_an_error(tmp_path: Path) -> None:
    text = "".join(f"[cameras.{cid}]\nenabled = false\n" for cid in CHALLENGE)
    with pytest.raises(RegistryError, match="no enabled camera"):
        load_registry(write(tmp_path, text))
