"""The source pre-filter and the verdict agree: same facts, same policy, same reasons and details."""

from __future__ import annotations

import pytest

from pipeline.policy import Policy, load_policy
from pipeline.prefilter import PREFILTER_REASONS, MetadataFacts, prefilter
from pipeline.records import ImageFacts, Reason
from pipeline.registry_load import load_registry
from pipeline.verdict import judge

REGISTRY = load_registry(None)
IPHONE = REGISTRY.get("iPhone-6")
POLICIES = {
    "default": load_policy(),
    "unknown_software_ok": load_policy(overrides={"software": {"unknown_is_edit": False}}),
    "no_size_check": load_policy(overrides={"checks": {"native_size": False}}),
    "no_edit_check": load_policy(overrides={"checks": {"edits": False}}),
}
NON_JPEG = Reason.NOT_JPEG
UNKNOWN, EXCLUDED = Reason.UNKNOWN_CAMERA, Reason.EXCLUDED_MODEL
EDITED, SIZE = Reason.EDITED_SOFTWARE, Reason.NON_NATIVE_SIZE


def commons(software: str | None = "8.1.2", make: str = "Apple", model: str = "iPhone 6",
            size: tuple[int, int] = (3264, 2448), fmt: str = "jpeg") -> MetadataFacts:
    """Commons metadata: mime, EXIF Make/Model/Software and the size."""
    return MetadataFacts(format=fmt, make=make, model=model, software=software,
                         width=size[0], height=size[1])


def flickr(width: int, height: int, fmt: str = "jpeg") -> MetadataFacts:
    """A Flickr search result: the original's format and o_dims, nothing of its EXIF."""
    return MetadataFacts(format=fmt, width=width, height=height)


# (metadata, policy, the reasons both must give)
AGREEMENT = [
    pytest.param(commons(), "default", (), id="commons-original"),
    # the old Commons pre-filter let these through: only a *known* editor was an edit there
    pytest.param(commons("Camera360 5.1"), "default", (EDITED,), id="unknown-software-is-an-edit"),
    pytest.param(commons("Instagram"), "default", (EDITED,), id="known-editor"),
    pytest.param(commons("Camera360 5.1"), "unknown_software_ok", (), id="unknown-software-allowed"),
    pytest.param(commons("Adobe Photoshop CC 2015"), "unknown_software_ok", (EDITED,),
                 id="known-editor-even-so"),
    pytest.param(commons("Adobe Photoshop CC 2015"), "no_edit_check", (), id="edits-switched-off"),
    pytest.param(commons(None, model="iPhone 6 Plus"), "default", (EXCLUDED,), id="excluded-model"),
    # no camera, so no firmware: the iPhone's "8.1.2" is unknown software to the verdict too
    pytest.param(commons(model="iPhone 6 Plus"), "default", (EXCLUDED, EDITED), id="excluded-with-software"),
    pytest.param(commons(None, make="NIKON CORPORATION", model="NIKON D750", size=(6016, 4016)),
                 "default", (UNKNOWN,), id="unknown-camera"),
    pytest.param(commons(size=(1024, 768)), "default", (SIZE,), id="commons-non-native"),
    pytest.param(commons("Photoshop", size=(1024, 768)), "default", (EDITED, SIZE), id="every-reason"),
    pytest.param(commons(size=(1024, 768)), "no_size_check", (), id="size-switched-off"),
    # the metadata names another registry camera: it is judged as that one, not the claimed one
    pytest.param(commons(None, make="motorola", model="XT1080", size=(4320, 2432)), "default", (),
                 id="labelled-as-the-file-says"),
    pytest.param(commons(None, make="motorola", model="XT1080"), "default", (SIZE,),
                 id="native-for-the-claimed-camera-only"),
    pytest.param(commons("Photoshop", size=(1, 1), fmt="png"), "default", (NON_JPEG,),
                 id="another-format-ends-it"),
    pytest.param(flickr(3264, 2448), "default", (), id="flickr-native"),
    pytest.param(flickr(2448, 3264), "default", (), id="flickr-portrait"),
    pytest.param(flickr(1600, 1200), "default", (SIZE,), id="flickr-o_dims-resized"),
    pytest.param(flickr(3264, 2447), "default", (SIZE,), id="flickr-o_dims-cropped"),
    pytest.param(flickr(1600, 1200), "no_size_check", (), id="flickr-size-switched-off"),
    pytest.param(flickr(3264, 2448, fmt="gif"), "default", (NON_JPEG,), id="flickr-gif"),
]


def downloaded(meta: MetadataFacts) -> ImageFacts:
    """The file as curation would read it: what the metadata says, the claimed camera's EXIF
    where the metadata names none (Flickr's search), otherwise a plain original."""
    return ImageFacts(format=meta.format or "jpeg", width=meta.width, height=meta.height,
                      make=meta.make or IPHONE.makes[0], model=meta.model or IPHONE.models[0],
                      software=meta.software, has_exif=True, has_eoi=True, quality=98,
                      quality_imagemagick=98)


@pytest.mark.parametrize(("meta", "policy", "reasons"), AGREEMENT)
def test_prefilter_and_verdict_agree(meta: MetadataFacts, policy: str, reasons: tuple[Reason, ...]) -> None:
    found = prefilter(meta, IPHONE, POLICIES[policy], REGISTRY)
    verdict = judge(downloaded(meta), REGISTRY, POLICIES[policy])
    decidable = tuple((r, verdict.detail(r)) for r in verdict.reasons if r in PREFILTER_REASONS)
    assert tuple(r for r, _ in found) == reasons
    assert found == decidable  # the same reasons, in the same order, with the same details


@pytest.mark.parametrize(("meta", "detail"), [
    (flickr(1600, 1200), "1600x1200 is not native to iPhone-6 (3264x2448)"),
    (commons("Camera360 5.1"), "Software 'Camera360 5.1'"),
    (commons(None, model="iPhone 6 Plus"), "EXIF Make 'Apple', Model 'iPhone 6 Plus'"),
    (flickr(1, 1, fmt="png"), "the file is png"),
])
def test_each_reason_says_the_measured_value(meta: MetadataFacts, detail: str) -> None:
    assert prefilter(meta, IPHONE, POLICIES["default"], REGISTRY)[0][1] == detail


@pytest.mark.parametrize("meta", [
    MetadataFacts(),
    MetadataFacts(width=1600),  # half a size is no size
    MetadataFacts(height=1200, software=""),
    MetadataFacts(make="NIKON CORPORATION"),  # a Make without a Model names no camera
    MetadataFacts(model="iPhone 6 Plus"),
    MetadataFacts(format="jpeg", width=0, height=0),
])
@pytest.mark.parametrize("policy", POLICIES.values(), ids=POLICIES.keys())
def test_what_the_metadata_does_not_give_never_rejects(meta: MetadataFacts, policy: Policy) -> None:
    assert prefilter(meta, IPHONE, policy, REGISTRY) == ()


def test_metadata_naming_a_camera_needs_a_registry() -> None:
    assert prefilter(flickr(1600, 1200), IPHONE, POLICIES["default"]) == (
        (SIZE, "1600x1200 is not native to iPhone-6 (3264x2448)"),)
    with pytest.raises(ValueError, match="registry"):
        prefilter(commons(), IPHONE, POLICIES["default"])


@pytest.mark.parametrize("code", ["non_native_size", "not_jpeg", "unknown_camera", "excluded_model",
                                  "edited_software", "opt_out", "off_source_host"])
def test_skip_codes_are_the_stable_codes_catalogs_hold(code: str) -> None:
    """The codes skips wrote before ``SkipReason`` merged into ``Reason`` read back the same."""
    assert Reason(code).value == code


def test_new_reasons_were_added_at_the_end() -> None:
    assert list(Reason)[-2:] == [Reason.OPT_OUT, Reason.OFF_SOURCE_HOST]
