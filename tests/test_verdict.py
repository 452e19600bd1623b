"""The verdict: every failing reason from (facts, registry, policy); the policy file; and the whole
chain on synthetic files."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from pipeline.facts import read_facts
from pipeline.policy import CHECKS, HEADER_ONLY, PIXEL_CHECKS, PolicyError, load_policy
from pipeline.records import ImageFacts, Reason
from pipeline.verdict import judge
from tests import jpegs

R = Reason

# A good iPhone 6 original, as read from its header.
BASE = ImageFacts(
    format="jpeg", width=3264, height=2448, make="Apple", model="iPhone 6", software="8.3",
    datetime_original="2015:06:01 12:00:00", orientation=1, exif_width=3264, exif_height=2448,
    has_exif=True, has_makernote=True, has_eoi=True, truncated=False,
    quant_tables=((2,) * 64, (3,) * 64), quality_imagemagick=96, quality=96, ijg_exact=False,
)


def user_policy(tmp_path: Path, text: str, name: str = "policy.toml"):
    path = tmp_path / name
    path.write_text(text)
    return load_policy(path, overrides=HEADER_ONLY)


def reasons(facts: ImageFacts, registry, policy) -> tuple[Reason, ...]:
    return judge(facts, registry, policy).reasons


def test_baseline_is_accepted(registry, policy) -> None:
    verdict = judge(BASE, registry, policy)
    assert verdict.accepted and verdict.reasons == () and verdict.label == "iPhone-6"
    assert verdict.policy_hash == policy.hash and verdict.registry_hash == registry.hash


SINGLE_FAILURES = {
    "truncated": ({"has_eoi": False, "truncated": True}, R.TRUNCATED),
    "corrupt": ({"corrupt": "12 extraneous bytes between markers"}, R.CORRUPT),
    "no exif": ({"has_exif": False}, R.NO_EXIF),
    "excluded model": ({"model": "iPhone 6 Plus", "software": None}, R.EXCLUDED_MODEL),
    "unknown camera": ({"make": "Canon", "model": "Canon EOS 5D", "software": None}, R.UNKNOWN_CAMERA),
    "no make": ({"make": None, "software": None}, R.UNKNOWN_CAMERA),
    "no model": ({"model": None, "software": None}, R.UNKNOWN_CAMERA),
    "editor software": ({"software": "GIMP 2.8.10"}, R.EDITED_SOFTWARE),
    "unknown software": ({"software": "MyCam Exporter 3"}, R.EDITED_SOFTWARE),
    "creator tool": ({"xmp_creator_tool": "Adobe Photoshop Lightroom 6.0 (Windows)"}, R.EDITED_CREATOR_TOOL),
    "xmp history": ({"xmp_history_agents": ("Adobe Photoshop CC 2015",)}, R.XMP_EDIT_HISTORY),
    "camera raw": ({"has_camera_raw": True}, R.CAMERA_RAW_SETTINGS),
    "photoshop irb": ({"has_photoshop_irb": True, "photoshop_iptc_only": False}, R.PHOTOSHOP_RESOURCES),
    "adobe app14": ({"has_adobe_app14": True}, R.ADOBE_APP14),
    "exif size": ({"exif_width": 1632, "exif_height": 1224}, R.EXIF_SIZE_MISMATCH),
    "low quality": ({"quality": 94, "quality_imagemagick": 94}, R.LOW_QUALITY),
    "quality unknown": ({"quality": None, "quality_imagemagick": None, "quant_tables": ()},
                        R.QUALITY_UNKNOWN),
    "non native": ({"width": 1632, "height": 1224, "exif_width": 1632, "exif_height": 1224},
                   R.NON_NATIVE_SIZE),
    "non native by 2 px": ({"width": 3264, "height": 2446, "exif_width": 3264, "exif_height": 2446},
                           R.NON_NATIVE_SIZE),
}


@pytest.mark.parametrize("case", list(SINGLE_FAILURES))
def test_each_failure_gives_exactly_its_reason(registry, policy, case: str) -> None:
    changes, reason = SINGLE_FAILURES[case]
    verdict = judge(dataclasses.replace(BASE, **changes), registry, policy)
    assert verdict.reasons == (reason,)
    assert not verdict.accepted


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"format": None, "error": "cannot read file: No such file or directory"}, (R.UNREADABLE,)),
        ({"format": "png", "error": "not a JPEG (format: png)"}, (R.NOT_JPEG,)),
        ({"format": "empty", "error": "not a JPEG (format: empty)"}, (R.NOT_JPEG,)),
        ({"error": "file ends inside segment 0xFFDB", "truncated": True}, (R.TRUNCATED,)),
        ({"error": "JPEG header larger than 16 MB"}, (R.CORRUPT,)),
    ],
)
def test_unreadable_files_get_one_reason(registry, policy, changes, expected) -> None:
    # an error ends the judgement: nothing else about such a file is trustworthy
    facts = dataclasses.replace(BASE, **changes, software="GIMP", quality=10)
    verdict = judge(facts, registry, policy)
    assert verdict.reasons == expected and verdict.label is None


def test_several_failures_give_every_reason_in_a_stable_order(registry, policy) -> None:
    facts = dataclasses.replace(
        BASE, truncated=True, has_eoi=False, corrupt="x", software="Adobe Photoshop Lightroom",
        xmp_creator_tool="Adobe Photoshop Lightroom", xmp_history_agents=("Lightroom",),
        has_camera_raw=True, has_photoshop_irb=True, has_adobe_app14=True, width=1600, height=1200,
        quality=80, quality_imagemagick=80,
    )
    assert reasons(facts, registry, policy) == (
        R.TRUNCATED, R.CORRUPT, R.EDITED_SOFTWARE, R.EDITED_CREATOR_TOOL, R.XMP_EDIT_HISTORY,
        R.CAMERA_RAW_SETTINGS, R.PHOTOSHOP_RESOURCES, R.ADOBE_APP14, R.EXIF_SIZE_MISMATCH, R.LOW_QUALITY,
        R.NON_NATIVE_SIZE,
    )
    stripped = dataclasses.replace(BASE, has_exif=False, make=None, model=None, software=None,
                                   exif_width=None, exif_height=None)
    assert reasons(stripped, registry, policy) == (R.NO_EXIF, R.UNKNOWN_CAMERA)


# ---- Software: firmware, editors, unknown writers --------------------------------------------

CAMERA_FACTS = {
    "iPhone-6": dict(make="Apple", model="iPhone 6", width=3264, height=2448),
    "LG-Nexus-5x": dict(make="LGE", model="Nexus 5X", width=4032, height=3024),
    "Sony-NEX-7": dict(make="SONY", model="NEX-7", width=6000, height=4000),
}


def camera_facts(camera: str, **changes) -> ImageFacts:
    values = CAMERA_FACTS[camera]
    return dataclasses.replace(BASE, **values, exif_width=values["width"], exif_height=values["height"],
                               **changes)


@pytest.mark.parametrize(
    ("camera", "software", "edited"),
    [
        ("iPhone-6", "8.3", False),
        ("iPhone-6", "8.1.2", False),
        ("iPhone-6", "  8.3  ", False),
        ("iPhone-6", "", False),  # an empty Software is never an edit
        ("LG-Nexus-5x", "bullhead-user 6.0.1 MMB29P 2548455 release-keys", False),
        ("LG-Nexus-5x", "HDR+ 1.0.141961997zd", False),
        ("Sony-NEX-7", "NEX-7 v1.00", False),
        ("Sony-NEX-7", "NEX-7 v1.03", False),
        ("iPhone-6", "Adobe Photoshop Lightroom", True),
        ("iPhone-6", "Adobe Photoshop Lightroom 6.0 (Windows)", True),
        ("iPhone-6", "GIMP 2.8", True),
        ("iPhone-6", "Snapseed", True),
        ("iPhone-6", "Instagram", True),
        ("iPhone-6", "Microsoft Windows Photo Viewer 6.1.7600.16385", True),
        ("Sony-NEX-7", "8.3", True),  # iOS is not Sony firmware: unknown, so an edit by default
        ("Sony-NEX-7", "NEX-6 v1.00", True),
        ("LG-Nexus-5x", "bullhead", True),
        ("iPhone-6", "MyCam Exporter 3", True),
    ],
)
def test_software_firmware_or_edit(registry, policy, camera: str, software: str, edited: bool) -> None:
    verdict = judge(camera_facts(camera, software=software), registry, policy)
    assert verdict.label == camera
    assert verdict.reasons == ((R.EDITED_SOFTWARE,) if edited else ())


@pytest.mark.parametrize(
    ("software", "edited"),
    [("MyCam Exporter 3", False), ("8.3", False), ("GIMP 2.8", True), ("Snapseed", True),
     ("Adobe Photoshop Lightroom", True)],
)
def test_unknown_software_is_fine_when_policy_says_so(tmp_path, registry, software, edited) -> None:
    policy = user_policy(tmp_path, "[software]\nunknown_is_edit = false\n")
    facts = camera_facts("iPhone-6", software=software, xmp_creator_tool=software)
    expected = (R.EDITED_SOFTWARE, R.EDITED_CREATOR_TOOL) if edited else ()
    assert reasons(facts, registry, policy) == expected


def test_editor_list_can_be_replaced(tmp_path, registry) -> None:
    policy = user_policy(tmp_path, '[software]\neditors = ["^MyCam"]\nunknown_is_edit = false\n')
    assert reasons(camera_facts("iPhone-6", software="MyCam Exporter 3"), registry, policy) == (
        R.EDITED_SOFTWARE,)
    assert reasons(camera_facts("iPhone-6", software="GIMP 2.8"), registry, policy) == ()


@pytest.mark.parametrize(
    ("creator_tool", "edited"),
    [("8.3", False), ("Adobe Photoshop CS6 (Windows)", True), ("GIMP 2.8", True), ("Whatever 1", True),
     (None, False), ("   ", False)],
)
def test_creator_tool(registry, policy, creator_tool, edited) -> None:
    facts = camera_facts("iPhone-6", xmp_creator_tool=creator_tool)
    assert reasons(facts, registry, policy) == ((R.EDITED_CREATOR_TOOL,) if edited else ())


def test_software_of_a_camera_outside_the_registry_cannot_be_firmware(registry, policy) -> None:
    """Firmware patterns belong to registry cameras: for another camera's file an unknown Software
    is judged like any unknown writer (an edit under the default policy), besides the camera."""
    facts = dataclasses.replace(BASE, model="iPhone 6 Plus")
    assert reasons(facts, registry, policy) == (R.EXCLUDED_MODEL, R.EDITED_SOFTWARE)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"has_photoshop_irb": True, "photoshop_iptc_only": True}, ()),
        ({"has_photoshop_irb": True, "photoshop_iptc_only": False}, (R.PHOTOSHOP_RESOURCES,)),
        ({"xmp_history_agents": ("a", "b")}, (R.XMP_EDIT_HISTORY,)),
        ({"has_camera_raw": True, "has_adobe_app14": True}, (R.CAMERA_RAW_SETTINGS, R.ADOBE_APP14)),
    ],
)
def test_adobe_traces(registry, policy, changes, expected) -> None:
    assert reasons(dataclasses.replace(BASE, **changes), registry, policy) == expected


# ---- sizes and quality -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "exif_size", "expected"),
    [
        ((3264, 2448), (3264, 2448), ()),
        ((3264, 2448), (2448, 3264), ()),  # swapped by orientation handling: allowed
        ((2448, 3264), (2448, 3264), ()),  # a portrait original
        ((2448, 3264), (3264, 2448), ()),
        ((3264, 2448), (None, None), ()),  # nothing recorded, nothing to compare
        ((3264, 2448), (3264, 2446), (R.EXIF_SIZE_MISMATCH,)),
        ((3264, 2448), (4000, 3000), (R.EXIF_SIZE_MISMATCH,)),
        ((1632, 1224), (3264, 2448), (R.EXIF_SIZE_MISMATCH, R.NON_NATIVE_SIZE)),  # resized
    ],
)
def test_sizes(registry, policy, size, exif_size, expected) -> None:
    facts = dataclasses.replace(BASE, width=size[0], height=size[1], exif_width=exif_size[0],
                                exif_height=exif_size[1])
    assert reasons(facts, registry, policy) == expected


@pytest.mark.parametrize(("quality", "expected"), [(100, ()), (95, ()), (94, (R.LOW_QUALITY,)),
                                                   (50, (R.LOW_QUALITY,))])
def test_quality_threshold_is_the_cameras_minimum(registry, policy, quality, expected) -> None:
    assert registry.get("iPhone-6").min_quality == 95
    facts = dataclasses.replace(BASE, quality=quality, quality_imagemagick=quality)
    assert reasons(facts, registry, policy) == expected


def test_estimate_imagemagick(tmp_path, registry, policy) -> None:
    """A third quantization table drags ImageMagick's number down; camid's corrected one decides
    by default, ImageMagick's when the policy says so."""
    facts = dataclasses.replace(BASE, quality=96, quality_imagemagick=92)
    assert reasons(facts, registry, policy) == ()
    im = user_policy(tmp_path, '[quality]\nestimate = "imagemagick"\n')
    assert reasons(facts, registry, im) == (R.LOW_QUALITY,)
    assert reasons(dataclasses.replace(facts, quality_imagemagick=None), registry, im) == (
        R.QUALITY_UNKNOWN,)
    assert im.hash != policy.hash


@pytest.mark.parametrize(("min_quality", "quality", "expected"),
                         [(90, 92, ()), (90, 89, (R.LOW_QUALITY,)), (98, 96, (R.LOW_QUALITY,)),
                          (0, 94, (R.LOW_QUALITY,)), (0, 95, ())])
def test_min_quality_override(tmp_path, registry, min_quality, quality, expected) -> None:
    policy = user_policy(tmp_path, f"[quality]\nmin_quality = {min_quality}\n")
    facts = dataclasses.replace(BASE, quality=quality, quality_imagemagick=quality)
    assert reasons(facts, registry, policy) == expected


def test_unknown_camera_uses_the_default_minimum(registry, policy) -> None:
    facts = dataclasses.replace(BASE, make="Canon", model="X", software=None, quality=94)
    assert reasons(facts, registry, policy) == (R.UNKNOWN_CAMERA, R.LOW_QUALITY)


# ---- checks switched off ----------------------------------------------------------------------


BAD_IN_EVERY_WAY = dataclasses.replace(
    BASE, truncated=True, has_eoi=False, corrupt="x", has_exif=False, software="GIMP 2.8",
    xmp_creator_tool="GIMP 2.8", has_adobe_app14=True, width=1600, height=1200, quality=70,
    quality_imagemagick=70,
)


@pytest.mark.parametrize(
    ("check", "gone"),
    [("require_eoi", {R.TRUNCATED}), ("reject_corrupt", {R.CORRUPT}), ("require_exif", {R.NO_EXIF}),
     ("edits", {R.EDITED_SOFTWARE, R.EDITED_CREATOR_TOOL, R.ADOBE_APP14}),
     ("exif_size", {R.EXIF_SIZE_MISMATCH}), ("quality", {R.LOW_QUALITY}),
     ("native_size", {R.NON_NATIVE_SIZE})],
)
def test_a_check_switched_off(tmp_path, registry, policy, check, gone) -> None:
    before = set(reasons(BAD_IN_EVERY_WAY, registry, policy))
    assert gone <= before
    relaxed = user_policy(tmp_path, f"[checks]\n{check} = false\n")
    assert set(reasons(BAD_IN_EVERY_WAY, registry, relaxed)) == before - gone
    assert relaxed.hash != policy.hash and not relaxed.applies(check)


def test_every_check_switched_off(tmp_path, registry) -> None:
    relaxed = user_policy(tmp_path, "[checks]\n" + "".join(f"{c} = false\n" for c in CHECKS))
    assert judge(BAD_IN_EVERY_WAY, registry, relaxed).accepted
    # the camera is not a check: it labels the file
    assert reasons(dataclasses.replace(BAD_IN_EVERY_WAY, model="iPhone 7"), registry, relaxed) == (
        R.UNKNOWN_CAMERA,)
    # nor is being a JPEG at all
    assert reasons(dataclasses.replace(BASE, format="png"), registry, relaxed) == (R.NOT_JPEG,)


# ---- the policy file -----------------------------------------------------------------------------


def test_default_policy(policy, full_policy) -> None:
    assert full_policy.checks == frozenset(CHECKS) - {"reject_resaved"}
    assert policy.checks == full_policy.checks - PIXEL_CHECKS  # the tests' header-only variant
    assert policy.estimate == "corrected" and policy.min_quality == 0 and policy.unknown_is_edit
    assert policy.is_editor("Adobe Photoshop CS6") and not policy.is_editor("8.3")
    assert load_policy().hash == full_policy.hash and len(policy.hash) == 64
    assert policy.hash != full_policy.hash


def test_user_file_merges_field_by_field(tmp_path, policy) -> None:
    merged = user_policy(tmp_path, "[checks]\nquality = false\n[quality]\nmin_quality = 90\n")
    assert merged.checks == frozenset(CHECKS) - {"quality", "reject_resaved"} - PIXEL_CHECKS
    assert merged.min_quality == 90 and merged.estimate == "corrected"
    assert merged.editors == policy.editors
    # comments and layout do not change the hash, content does
    same = user_policy(tmp_path, "# relaxed\n[quality]\nmin_quality = 90\n\n[checks]\nquality = false\n",
                       "other.toml")
    assert same.hash == merged.hash


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("[checks]\nsharpness = true\n", "unknown check 'sharpness'"),
        ("[checks]\nquality = 'no'\n", "field 'quality' must be true or false"),
        ('[quality]\nestimate = "exiftool"\n', "field 'estimate'"),
        ("[quality]\nestimate = 5\n", "field 'estimate'"),
        ("[quality]\nmin_quality = 101\n", "field 'min_quality'"),
        ("[quality]\nmin_quality = true\n", "field 'min_quality'"),
        ('[quality]\nmin_quality = "95"\n', "field 'min_quality'"),
        ("[quality]\nthreshold = 90\n", "unknown field(s): threshold"),
        ('[software]\neditors = ["gimp", "photo(shop"]\n', "field 'editors': bad regex"),
        ('[software]\neditors = "gimp"\n', "field 'editors'"),
        ('[software]\neditors = ["gimp", ""]\n', "field 'editors'"),
        ('[software]\nunknown_is_edit = "yes"\n', "field 'unknown_is_edit'"),
        ("[weights]\nx = 1\n", "unknown table [weights]"),
        ("min_quality = 90\n", "unknown table [min_quality]"),
        ("checks = 1\n", "[checks] must be a table"),
        ("[[checks]]\nquality = false\n", "[checks] must be a table"),
        ("[checks\n", "not valid TOML"),
    ],
)
def test_policy_errors_name_file_and_field(tmp_path, text: str, field: str) -> None:
    path = tmp_path / "my-policy.toml"
    path.write_text(text)
    with pytest.raises(PolicyError) as err:
        load_policy(path)
    message = str(err.value)
    assert message.startswith(f"{path}: "), message
    assert field in message, message
    assert "\n" not in message


def test_missing_policy_file(tmp_path) -> None:
    with pytest.raises(PolicyError, match=r"missing\.toml: cannot read policy file"):
        load_policy(tmp_path / "missing.toml")


# ---- end to end on synthetic files ---------------------------------------------------------------


@pytest.fixture(scope="module")
def verdict_of(tmp_path_factory, registry, policy):
    folder = tmp_path_factory.mktemp("e2e")

    def run(data: bytes, pol=None):
        path = folder / "file.jpg"
        path.write_bytes(data)
        facts = read_facts(path)
        return facts, judge(facts, registry, pol or policy)

    return run


def test_untouched_native_iphone6_is_accepted(verdict_of) -> None:
    facts, verdict = verdict_of(jpegs.native_iphone6(96))
    assert (facts.width, facts.height, facts.quality, facts.software) == (3264, 2448, 96, "8.3")
    assert verdict.accepted and verdict.label == "iPhone-6"


def test_portrait_native_iphone6_is_accepted(verdict_of) -> None:
    _, verdict = verdict_of(jpegs.make_jpeg((2448, 3264), quality=96, content="camera", orientation=6))
    assert verdict.accepted, verdict.reasons


NATIVE = jpegs.IPHONE6_SIZE


@pytest.mark.parametrize(
    ("name", "build", "expected"),
    [
        ("resized", lambda: jpegs.make_jpeg((1632, 1224), exif_size=NATIVE, content="camera"),
         (R.EXIF_SIZE_MISMATCH, R.NON_NATIVE_SIZE)),
        ("resized, EXIF rewritten", lambda: jpegs.make_jpeg((1632, 1224), content="camera"),
         (R.NON_NATIVE_SIZE,)),
        ("re-saved at 80", lambda: jpegs.make_jpeg(NATIVE, quality=80, content="camera"), (R.LOW_QUALITY,)),
        ("re-saved at 94", lambda: jpegs.make_jpeg(NATIVE, quality=94, content="camera"), (R.LOW_QUALITY,)),
        ("saved at 95", lambda: jpegs.make_jpeg(NATIVE, quality=95, content="camera"), ()),
        ("GIMP software", lambda: jpegs.make_jpeg(NATIVE, software="GIMP 2.8.10", content="camera"),
         (R.EDITED_SOFTWARE,)),
        ("no software", lambda: jpegs.make_jpeg(NATIVE, software=None, content="camera"), ()),
        ("Photoshop APP13", lambda: jpegs.splice(jpegs.native_iphone6(),
                                                 jpegs.photoshop_app13(jpegs.PHOTOSHOP_RESOURCES)),
         (R.PHOTOSHOP_RESOURCES,)),
        ("IPTC-only APP13", lambda: jpegs.splice(jpegs.native_iphone6(), jpegs.photoshop_app13()), ()),
        ("Adobe APP14", lambda: jpegs.splice(jpegs.native_iphone6(), jpegs.adobe_app14()), (R.ADOBE_APP14,)),
        ("Lightroom XMP", lambda: jpegs.splice(jpegs.native_iphone6(), jpegs.xmp_app1(
            "Adobe Photoshop Lightroom 6.0 (Windows)", ["Adobe Photoshop Lightroom 6.0 (Windows)"],
            camera_raw=True)), (R.EDITED_CREATOR_TOOL, R.XMP_EDIT_HISTORY, R.CAMERA_RAW_SETTINGS)),
        ("firmware CreatorTool", lambda: jpegs.splice(jpegs.native_iphone6(), jpegs.xmp_app1("8.3")), ()),
        ("EXIF stripped", lambda: jpegs.make_jpeg(NATIVE, exif=False, content="camera"),
         (R.NO_EXIF, R.UNKNOWN_CAMERA)),
        ("iPhone 6 Plus", lambda: jpegs.make_jpeg(NATIVE, model="iPhone 6 Plus", software=None,
                                                  content="camera"),
         (R.EXCLUDED_MODEL,)),
        ("Canon", lambda: jpegs.make_jpeg((64, 48), make="Canon", model="Canon EOS 40D", software=None),
         (R.UNKNOWN_CAMERA,)),
        ("truncated download", lambda: jpegs.native_iphone6()[:-5000], (R.TRUNCATED,)),
        ("everything at once", lambda: jpegs.splice(
            jpegs.make_jpeg((1632, 1224), quality=80, software="GIMP 2.8", exif_size=NATIVE,
                            content="camera"),
            jpegs.adobe_app14()),
         (R.EDITED_SOFTWARE, R.ADOBE_APP14, R.EXIF_SIZE_MISMATCH, R.LOW_QUALITY, R.NON_NATIVE_SIZE)),
    ],
)
def test_synthetic_files_end_to_end(verdict_of, name, build, expected) -> None:
    facts, verdict = verdict_of(build())
    assert verdict.reasons == expected, (name, facts)


def test_end_to_end_with_a_relaxed_policy(tmp_path, verdict_of) -> None:
    relaxed = user_policy(tmp_path, "[checks]\nnative_size = false\nexif_size = false\n"
                                    "[quality]\nmin_quality = 75\n")
    data = jpegs.make_jpeg((1632, 1224), quality=80, exif_size=NATIVE, content="camera")
    _, verdict = verdict_of(data, relaxed)
    assert verdict.accepted, verdict.reasons
