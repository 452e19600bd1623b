"""Learning each camera's signatures from uploaders, and judging files against them."""

from __future__ import annotations

import dataclasses

import pytest

from pipeline.evidence import EncoderSignature, SignatureCount
from pipeline.policy import HEADER_ONLY, load_policy
from pipeline.records import ImageFacts, Reason
from pipeline.registry_load import build_registry
from pipeline.signature_book import EMPTY_BOOK, check_encoder, learn_signatures, rule_violations
from pipeline.verdict import judge

CAMERA = {"name": "Acme A1", "makes": ["Acme"], "models": ["A1"], "sizes": ["4000x3000"],
          "firmware_software": ["^A1 v"]}
OWN = EncoderSignature(markers="APP1:Exif DQT:0,1 SOF0 DHT:00,10,01,11 SOS", tables="sha:aaaaaaaaaaaa",
                       huffman="standard", coding="baseline 8bit dri=0", sampling="4:2:0 1:2x2,2:1x1,3:1x1",
                       exif="II@8 0 exif 1", thumbnail="160x120:abcdef", makernote="inside")
PILLOW = dataclasses.replace(OWN, markers="APP0:JFIF APP1:Exif DQT:0 DQT:1 SOF0 DHT:00 DHT:10 DHT:01 "
                                          "DHT:11 SOS", exif="MM@8 0 exif", thumbnail="none",
                             makernote="none")
REENCODED = dataclasses.replace(PILLOW, tables="ijg:95")
SUBSAMPLED = dataclasses.replace(OWN, sampling="4:4:4 1:1x1,2:1x1,3:1x1")


def registry(**encoder: object):  # type: ignore[no-untyped-def]
    return build_registry([("t", {"cameras": {"Acme-A1": {**CAMERA, "encoder": encoder}}})])


def counts(signature: str, uploaders: int, *, software: str = "A1 v1.0", size: tuple[int, int] = (4000, 3000),
           quality: int = 96) -> list[SignatureCount]:
    return [SignatureCount("Acme", "A1", software, size[0], size[1], quality, signature, f"flickr:u{i}", 2)
            for i in range(uploaders)]


def book(rows: list[SignatureCount], reg=None, min_uploaders: int = 3):  # type: ignore[no-untyped-def]
    reg = reg or registry()
    return learn_signatures(rows, reg, min_uploaders, lambda camera: camera.min_quality)


@pytest.mark.parametrize(("rows", "established"), [
    (counts(OWN.id, 3), True),
    (counts(OWN.id, 2), False),  # too few uploaders
    (counts(OWN.id, 5, size=(2000, 1500)), False),  # not a native size: not evidence
    (counts(OWN.id, 5, quality=80), False),  # below the camera's minimum quality
    (counts(OWN.id, 2, software="A1 v1.0") + counts(OWN.id, 2, software="A1 v1.1"), False),  # per firmware
])
def test_learning_needs_independent_uploaders(rows: list[SignatureCount], established: bool) -> None:
    learned = book(rows)
    assert (OWN.id in learned.known(registry().get("Acme-A1"))) == established


def test_unknown_cameras_teach_nothing() -> None:
    rows = [dataclasses.replace(r, make="Other") for r in counts(OWN.id, 5)]
    assert book(rows).known_ids == {}


def test_book_hash_follows_the_established_set() -> None:
    a, b = book(counts(OWN.id, 3)), book(counts(OWN.id, 4))
    assert a.hash == b.hash  # more evidence, same set
    assert a.hash != book(counts(OWN.id, 3) + counts(PILLOW.id, 3)).hash != EMPTY_BOOK.hash


@pytest.mark.parametrize(("signature", "status", "parts"), [
    (OWN, "camera", ()),
    (PILLOW, "resaved", ("markers", "exif", "thumbnail", "makernote")),
    (REENCODED, "foreign", ("markers", "tables", "exif", "thumbnail", "makernote")),
    (SUBSAMPLED, "foreign", ("sampling",)),
])
def test_files_against_the_learned_signatures(signature: EncoderSignature, status: str,
                                              parts: tuple[str, ...]) -> None:
    learned = book(counts(OWN.id, 4))
    check = check_encoder(signature, registry().get("Acme-A1"), learned)
    assert (check.status, check.parts) == (status, parts)
    if status != "camera":
        assert OWN.id in check.detail and "known signature" in check.detail


def test_nothing_known_is_unknown() -> None:
    assert check_encoder(REENCODED, registry().get("Acme-A1"), EMPTY_BOOK).status == "unknown"


def test_registry_signatures_count_as_known() -> None:
    reg = registry(signatures=[OWN.id])
    assert check_encoder(OWN, reg.get("Acme-A1"), EMPTY_BOOK).status == "camera"
    assert check_encoder(REENCODED, reg.get("Acme-A1"), EMPTY_BOOK).status == "foreign"


@pytest.mark.parametrize(("rules", "signature", "container", "pixel"), [
    ({"jfif": False}, PILLOW, ["markers"], []),
    ({"jfif": False}, OWN, [], []),
    ({"progressive": False}, dataclasses.replace(OWN, coding="progressive 8bit dri=0"), ["coding"], []),
    ({"huffman": "standard"}, dataclasses.replace(OWN, huffman="custom:12345678"), ["huffman"], []),
    ({"ijg_tables": False}, REENCODED, [], ["tables"]),
    ({"subsampling": ["4:2:0"]}, SUBSAMPLED, [], ["sampling"]),
])
def test_registry_rules(rules: dict, signature: EncoderSignature, container: list, pixel: list) -> None:
    reg = registry(**rules)
    found_container, found_pixel = rule_violations(signature, reg.get("Acme-A1").encoder)
    assert [p for p, _ in found_container] == container and [p for p, _ in found_pixel] == pixel
    status = check_encoder(signature, reg.get("Acme-A1"), EMPTY_BOOK).status
    assert status == ("foreign" if pixel else "resaved" if container else "unknown")


FACTS = ImageFacts(format="jpeg", width=4000, height=3000, make="Acme", model="A1", software="A1 v1.0",
                   has_exif=True, has_eoi=True, quant_tables=((2,) * 64, (3,) * 64), quality=96,
                   quality_imagemagick=96, ijg_exact=False)


@pytest.mark.parametrize(("signature", "reasons", "flags", "policy_text"), [
    (OWN, (), (), None),
    (PILLOW, (), ("resaved",), None),
    (PILLOW, (Reason.RESAVED,), ("resaved",), "[checks]\nreject_resaved = true\n"),
    (REENCODED, (Reason.FOREIGN_ENCODER,), (), None),
    (REENCODED, (), (), "[checks]\nencoder = false\n"),
])
def test_verdicts_name_the_encoder(tmp_path, signature: EncoderSignature, reasons: tuple, flags: tuple,
                                   policy_text: str | None) -> None:
    path = None
    if policy_text:
        path = tmp_path / "p.toml"
        path.write_text(policy_text)
    policy = load_policy(path, HEADER_ONLY)
    verdict = judge(dataclasses.replace(FACTS, signature=signature), registry(), policy,
                    book(counts(OWN.id, 3)))
    assert verdict.reasons == reasons and verdict.flags == flags
    assert all(verdict.details)


def test_registry_validates_encoder_tables() -> None:
    from pipeline.errors import RegistryError

    for bad, message in (({"jfif": "no"}, "encoder.jfif"), ({"huffman": "fast"}, "encoder.huffman"),
                         ({"signatures": ["abc"]}, "not a signature id"), ({"colour": 1}, "unknown field")):
        with pytest.raises(RegistryError, match=message):
            registry(**bad)
