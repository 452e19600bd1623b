"""What curation learns from the catalog before it judges: each camera's encoder signatures and
thumbnail agreement (``pipeline.signature_book``, ``pipeline.thumbnail_book``), in one book."""

from __future__ import annotations

from dataclasses import replace

from db import Catalog
from pipeline.policy import Policy
from pipeline.registry import Camera, Registry
from pipeline.signature_book import SignatureBook, learn_signatures
from pipeline.thumbnail_book import learn_under_policy


def learn_book(catalog: Catalog, registry: Registry, policy: Policy) -> SignatureBook:
    """The signatures each camera is known by (the registry's and those the catalog has learned)
    and, where enough of its files are measured, how closely its thumbnails agree."""
    min_uploaders = int(policy.threshold("encoder.min_uploaders"))

    def min_quality(camera: Camera) -> int:
        return policy.min_quality or camera.min_quality

    book = learn_signatures(catalog.signature_counts(), registry, min_uploaders, min_quality)
    if not policy.applies("thumbnail"):
        return book
    thumbnails = learn_under_policy(catalog.thumbnail_samples(), registry, policy, min_quality=min_quality,
                                    known=book.known)
    return replace(book, thumbnails=thumbnails)
