"""The dataset card as one self-contained HTML page: a pure function of the plan and thumbnails.

No script, no external file: the thumbnails are embedded (``data:`` JPEGs), the histograms are
CSS bars, so the page opens from disk, in a mail attachment or on any static host alike. Every
value from the catalog is escaped (``html.escape``): file names, uploaders and EXIF strings come
from strangers. The datasheet headings follow Gebru et al., "Datasheets for Datasets" (2021).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from html import escape

from pipeline.card import CameraSection, CardImage, CardPlan, ReasonSection, RejectionExample
from pipeline.summary import SourceSummary

CAPTION_CHARS = 90  # a longer measured value is cut in the caption, whole in its tooltip

# what each rejection means, for a reader who does not know the codes
REASON_WORDS = {
    "not_jpeg": "not a JPEG at all (the real format, from the file's first bytes)",
    "truncated": "the file ends before the image does (no end-of-image marker)",
    "corrupt": "damaged data that still let the header be read",
    "no_exif": "no EXIF block: nothing says which camera took it",
    "unknown_camera": "EXIF Make/Model names no camera of the registry",
    "excluded_model": "a look-alike model the registry excludes explicitly",
    "edited_software": "EXIF Software names an editor, not the camera's firmware",
    "edited_creator_tool": "XMP CreatorTool names an editor",
    "xmp_edit_history": "XMP history records an edit",
    "camera_raw_settings": "Camera Raw (crs:) settings: developed from a raw file",
    "photoshop_resources": "Photoshop resources beyond IPTC",
    "adobe_app14": "an Adobe APP14 segment: written by Adobe software",
    "exif_size_mismatch": "the EXIF size differs from the image's: cropped or resized",
    "low_quality": "JPEG quality under the camera's minimum: re-saved or a web copy",
    "quality_unknown": "no quantization tables to estimate a quality from",
    "non_native_size": "a size the camera does not write: resized or cropped",
    "unreadable": "the file could not be read",
    "empty_scan": "the scan cannot hold a camera image (too few bits, flat or zeroed data)",
    "foreign_encoder": "the JPEG tables or layout are not this camera's firmware's",
    "resaved": "re-saved with the camera's own settings (rejected by this policy)",
    "pixels_unchecked": "the header passed; the pixel stage has not run yet",
    "thumbnail_mismatch": "the EXIF thumbnail shows other pixels than the image",
    "recompressed": "the DCT histograms show a second compression",
    "resampled": "interpolation traces: resized at some point",
    "local_edit": "a region was smoothed or copied within the image",
    "opt_out": "the host opts out of AI use (X-Robots-Tag)",
    "off_source_host": "the source named a file on a host it does not serve",
}

STYLE = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1d232a;
background:#f6f7f9}
header{background:#1f3a5f;color:#fff;padding:18px 28px}header h1{margin:0 0 4px;font-size:22px}
header p{margin:0;opacity:.85}nav{padding:8px 28px;background:#e8ecf2;font-size:13px}
nav a{margin-right:14px;color:#1f3a5f}main{padding:8px 28px 40px;max-width:1400px}
section{background:#fff;border:1px solid #dde2e8;border-radius:6px;padding:12px 18px;margin:16px 0}
h2{font-size:18px;margin:4px 0 10px}h3{font-size:15px;margin:14px 0 6px}
table{border-collapse:collapse;margin:6px 0 10px;font-size:13px}
th,td{border-bottom:1px solid #e6e9ee;padding:3px 10px;text-align:left;vertical-align:top}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.cols{display:flex;flex-wrap:wrap;gap:28px}.cols>div{min-width:240px}
.grid{display:flex;flex-wrap:wrap;gap:8px;margin:6px 0}
figure{margin:0;width:164px;font-size:11px;color:#444}
figure img,figure .none{width:160px;height:120px;object-fit:contain;background:#222;display:block;
border:2px solid #fff}
figure .none{color:#bbb;display:flex;align-items:center;justify-content:center;text-align:center}
figcaption{overflow-wrap:anywhere}figcaption b{color:#a11}.split{color:#1f3a5f;font-weight:600}
.bar{display:inline-block;height:10px;background:#4f7cac;vertical-align:middle;margin-right:6px}
.muted{color:#667}.code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}
.ok{color:#16703a}.warn{color:#a11}
"""


def render_card(plan: CardPlan, thumbs: Mapping[str, bytes | None]) -> str:
    """The whole page. ``thumbs`` maps a file's SHA-256 to its preview (None: no preview)."""
    card = plan.input
    accepted = len(card.images)
    subject = f"dataset <b>{escape(card.dataset)}</b>" if card.dataset else "the whole catalog"
    parts = [
        "<!doctype html>", '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>{escape(card.title)}</title><style>{STYLE}</style></head><body>",
        f"<header><h1>{escape(card.title)}</h1><p>The dataset card of {subject}: {accepted} accepted "
        f"file(s) of {len(plan.cameras)} camera(s), {card.catalog.rejected_files} file(s) rejected; "
        f"made by camid {escape(card.provenance.camid_version)} on "
        f"{escape(card.provenance.generated_at)}.</p></header>",
        '<nav><a href="#motivation">Motivation</a><a href="#composition">Composition</a>'
        '<a href="#cameras">Cameras</a><a href="#rejections">Rejections</a>'
        '<a href="#split">Split</a><a href="#collection">Collection</a>'
        '<a href="#preprocessing">Preprocessing</a><a href="#uses">Uses</a>'
        '<a href="#distribution">Distribution and licences</a><a href="#provenance">Provenance</a></nav>',
        "<main>",
        _motivation(),
        _composition(plan),
        '<section id="cameras"><h2>Cameras</h2><p class="muted">Per class: what its queries found '
        "(candidates, downloaded, accepted, by source: the camera a query asked for, which never "
        "labels a file), then the files with this label, a sample of them (at most "
        f"{plan.per_camera}, by content hash), their sizes and JPEG qualities, who contributed them "
        "and under which licences.</p>",
        *(_camera(section, thumbs, card.dataset is not None) for section in plan.cameras),
        "</section>",
        _rejections(plan, thumbs),
        _split(plan),
        _collection(plan),
        _preprocessing(plan),
        _uses(),
        _distribution(plan),
        _provenance(plan),
        "</main></body></html>",
    ]
    return "\n".join(parts) + "\n"


def _motivation() -> str:
    return ("<section id=\"motivation\"><h2>Motivation</h2><p>Camera-model identification: telling "
            "which camera model took a photo from its pixels alone. Such a classifier needs photos "
            "that are still what the camera wrote: labelled by their own EXIF (never by the query "
            "that found them) and untouched since (no editor, no re-save, no resize, no pasted "
            "region). camid collects them from public sources and curates them; this card shows "
            "what was kept and what was thrown away, with the measured value behind each "
            "rejection.</p></section>")


def _composition(plan: CardPlan) -> str:
    card = plan.input
    rows = [(s.name, s.camera, s.images) for s in plan.cameras]
    body = "".join(f"<tr><td>{escape(name)}</td><td class=code>{escape(cid)}</td><td class=n>{n}</td>"
                   f"<td>{_bar(n, max((r[2] for r in rows), default=1))}</td></tr>" for name, cid, n in rows)
    unlabelled = (f"<p class=warn>{plan.unlabelled} file(s) carry a label the registry no longer has.</p>"
                  if plan.unlabelled else "")
    return (f'<section id="composition"><h2>Composition</h2><p>{len(card.images)} image(s) in '
            f"{len(plan.cameras)} class(es). Each instance is one original JPEG file, byte for byte as "
            "its source served it, labelled with the camera model its EXIF Make and Model name through "
            "the camera registry. The files keep all their metadata: EXIF may hold GPS positions, "
            "serial numbers and owners' names, and the photos may show people; review both before "
            "publishing. Exact duplicates are stored once; near duplicates (the same shot re-uploaded "
            "or re-encoded) are kept, grouped on one side of the split.</p>"
            f"<table><tr><th>camera</th><th>id</th><th class=n>images</th><th></th></tr>{body}</table>"
            f"{unlabelled}</section>")


def _camera(section: CameraSection, thumbs: Mapping[str, bytes | None], dataset: bool) -> str:
    funnel = _funnel_table(section.funnel)
    grid = "".join(_figure(img, thumbs.get(img.sha256), _accepted_caption(img)) for img in section.shown)
    more = section.images - len(section.shown)
    return (f'<h3 id="camera-{escape(section.camera)}">{escape(section.name)} '
            f'<span class="muted code">{escape(section.camera)}</span></h3>'
            f"<p>{section.images} file(s) {'in the dataset' if dataset else 'accepted'} with this label"
            f"{': ' + _inline(section.by_source) if section.by_source else ''}.</p>"
            f'<div class="cols"><div><b>Funnel of its queries</b>{funnel}</div>'
            f"<div><b>Sizes</b>{_histogram(section.sizes)}</div>"
            f"<div><b>JPEG quality</b>{_histogram(section.qualities)}</div>"
            f"<div><b>Contributors</b><p>{section.uploaders} uploader(s), "
            f"{section.devices or 'no'} device(s) recorded</p>{_histogram(section.top_uploaders)}</div>"
            f"<div><b>Licences</b>{_histogram(section.licences)}</div></div>"
            f'<div class="grid">{grid}</div>'
            + (f"<p class=muted>and {more} more.</p>" if more > 0 else ""))


def _funnel_table(lines: Sequence[SourceSummary]) -> str:
    if not lines:
        return "<p class=muted>no candidate was found by a query for this camera</p>"
    rows = "".join(f"<tr><td>{escape(x.source)}</td><td class=n>{x.candidates}</td><td class=n>{x.downloaded}"
                   f"</td><td class=n>{x.accepted}</td><td class=n>{x.rejected}</td></tr>" for x in lines)
    return ("<table><tr><th>source</th><th class=n>candidates</th><th class=n>downloaded</th>"
            f"<th class=n>accepted</th><th class=n>rejected</th></tr>{rows}</table>")


def _rejections(plan: CardPlan, thumbs: Mapping[str, bytes | None]) -> str:
    card = plan.input
    intro = (f"<p>{card.catalog.rejected_files} stored file(s) are not accepted; a file counts under "
             "every reason its verdict gives. Each example shows the measured value that failed "
             f"(at most {plan.per_reason} per reason).</p>")
    if not plan.reasons:
        intro += "<p class=ok>No stored file was rejected.</p>"
    skipped = _before_download(card.funnel)
    return ('<section id="rejections"><h2>Rejections</h2>' + intro
            + "".join(_reason(r, thumbs) for r in plan.reasons) + skipped + "</section>")


def _reason(section: ReasonSection, thumbs: Mapping[str, bytes | None]) -> str:
    grid = "".join(_figure(ex.image, thumbs.get(ex.image.sha256), _rejected_caption(ex))
                   for ex in section.shown)
    cams = _inline(section.by_camera)
    return (f'<h3 id="reason-{escape(section.reason)}"><span class=code>{escape(section.reason)}</span>: '
            f"{section.files} file(s)</h3><p>{escape(REASON_WORDS.get(section.reason, ''))}"
            f"{'. By the camera its query asked for: ' + cams if cams else ''}</p>"
            f'<div class="grid">{grid}</div>')


def _before_download(funnel: Sequence[SourceSummary]) -> str:
    skipped: dict[str, int] = {}
    failed: dict[str, int] = {}
    for line in funnel:
        for reason, n in line.skipped_by_reason:
            skipped[reason] = skipped.get(reason, 0) + n
        for reason, n in (*line.will_retry_by_reason, *line.gave_up_by_reason):
            failed[reason] = failed.get(reason, 0) + n
    if not skipped and not failed:
        return ""
    return ("<h3>Never downloaded</h3><div class=cols>"
            f"<div><b>Ruled out by the source's metadata</b>{_histogram(sorted(skipped.items()))}</div>"
            f"<div><b>Downloads that failed</b>{_histogram(sorted(failed.items()))}</div></div>")


def _split(plan: CardPlan) -> str:
    if not plan.sides:
        return ('<section id="split"><h2>Split</h2><p class=muted>A card of the whole catalog has no '
                "split: <span class=code>camid export NAME</span> makes one, and "
                "<span class=code>camid report NAME</span> shows it.</p></section>")
    classes = sorted({c for side in plan.sides for c, _ in side.per_class})
    head = "".join(f"<th class=n>{escape(s.split)}</th>" for s in plan.sides)
    rows = "".join(f"<tr><td class=code>{escape(c)}</td>"
                   + "".join(f"<td class=n>{dict(s.per_class).get(c, 0)}</td>" for s in plan.sides)
                   + "</tr>" for c in classes)
    totals = "".join(f"<td class=n><b>{s.images}</b></td>" for s in plan.sides)
    ups = "".join(f"<td class=n>{s.uploaders}</td>" for s in plan.sides)
    devs = "".join(f"<td class=n>{s.devices or '-'}</td>" for s in plan.sides)
    shared = "".join(f"<td class=n>{s.shared_uploaders + s.shared_devices}</td>" for s in plan.sides)
    leak = sum(s.shared_uploaders + s.shared_devices for s in plan.sides)
    verdict = ("<p class=ok>No uploader or device is on two sides.</p>" if not leak else
               f"<p class=warn>{leak} uploader/device appearance(s) on more than one side.</p>")
    return ('<section id="split"><h2>Split</h2><p>Images per class on each side; the split is '
            "stratified by camera and grouped so that one uploader, or one near-duplicate cluster, "
            f"stays on one side.</p><table><tr><th>class</th>{head}</tr>{rows}<tr><td>all</td>{totals}</tr>"
            f"<tr><td>uploaders</td>{ups}</tr><tr><td>devices</td>{devs}</tr>"
            f"<tr><td>shared with another side</td>{shared}</tr></table>{verdict}</section>")


def _collection(plan: CardPlan) -> str:
    card = plan.input
    span = ""
    if card.catalog.first_found and card.catalog.last_found:
        span = (f" Candidates were found between {card.catalog.first_found:%Y-%m-%d} and "
                f"{card.catalog.last_found:%Y-%m-%d}.")
    by_source: dict[str, list[int]] = {}
    for line in card.funnel:
        counts = by_source.setdefault(line.source, [0, 0, 0, 0])
        for i, n in enumerate((line.candidates, line.skipped, line.downloaded, line.accepted)):
            counts[i] += n
    rows = "".join(f"<tr><td>{escape(s)}</td>" + "".join(f"<td class=n>{n}</td>" for n in c) + "</tr>"
                   for s, c in sorted(by_source.items()))
    return ('<section id="collection"><h2>Collection process</h2><p>Scrapers sent the camera '
            "registry's queries (<span class=code>camid cameras</span> lists them) to each source and "
            "recorded every candidate with its licence and author; what a source's metadata already "
            "ruled out was skipped before download. The downloader fetched the rest into "
            "content-addressed storage, checking each file against its source's size or SHA-1."
            f"{span}</p><table><tr><th>source</th><th class=n>candidates</th><th class=n>skipped</th>"
            f"<th class=n>downloaded</th><th class=n>accepted</th></tr>{rows}</table></section>")


def _preprocessing(plan: CardPlan) -> str:
    reasons = ", ".join(f"<span class=code>{escape(r.reason)}</span> {r.files}" for r in plan.reasons[:12])
    return ('<section id="preprocessing"><h2>Preprocessing and curation</h2><p>No pixel of a file was '
            "changed: the files are the originals. Curation read every header (EXIF, XMP, Photoshop "
            "and Adobe segments, the JPEG tables and scan) and decoded the luminance of what the "
            "header checks passed, to look for recompression, resampling, local edits and a "
            "mismatching thumbnail; every failing reason is recorded with its measured value. The "
            f"policy is identified by its hash (see Provenance).</p><p>Rejected: {reasons or 'none'}.</p>"
            "</section>")


def _uses() -> str:
    return ('<section id="uses"><h2>Uses</h2><p>Intended: training and evaluating camera-model '
            "identification, and research on image provenance and forensics. Not intended: "
            "identifying or tracking the people in the photos or the owners of the devices (EXIF "
            "serial numbers and GPS positions make that possible: strip them for such a release), or "
            "any use a photo's licence forbids. The classes are the registry's cameras only: a model "
            "trained here knows no other camera.</p></section>")


def _distribution(plan: CardPlan) -> str:
    card = plan.input
    files = ("<p>The dataset directory holds <span class=code>train.csv</span>, "
             "<span class=code>val.csv</span> (and <span class=code>test.csv</span> where the split has "
             "one), <span class=code>manifest.json</span>, <span class=code>ATTRIBUTION.md</span> (every "
             "image's author, licence and source) and, per split, a folder with "
             "<span class=code>metadata.csv</span> in the Hugging Face imagefolder layout "
             '(<span class=code>datasets.load_dataset("imagefolder", data_dir=...)</span>).</p>'
             if card.dataset else "")
    return ('<section id="distribution"><h2>Distribution and licences</h2><p>Each image stays under '
            "its own licence, as its source states it; the dataset as a whole has none of its own. "
            f"Attribution is owed per image.</p>{files}<div class=cols>"
            f"<div><b>Licences</b>{_histogram(plan.licences)}</div>"
            f"<div><b>Sources</b>{_histogram(plan.sources)}</div></div></section>")


def _provenance(plan: CardPlan) -> str:
    p = plan.input.provenance
    rows = [("camid version", p.camid_version), ("generated", p.generated_at),
            ("registry hash", ", ".join(p.registry_hashes) or "-"),
            ("policy hash", ", ".join(p.policy_hashes) or "-"),
            ("seed", "-" if p.seed is None else str(p.seed)), ("rows hash", p.rows_sha256 or "-"),
            ("manifest format", p.manifest_format or "-")]
    body = "".join(f"<tr><th>{escape(k)}</th><td class=code>{escape(v)}</td></tr>" for k, v in rows)
    return f'<section id="provenance"><h2>Provenance</h2><table>{body}</table></section>'


def _figure(img: CardImage, thumb: bytes | None, caption: str) -> str:
    title = escape(f"{img.sha256[:16]} {img.uploader or 'unknown uploader'}, {img.licence or 'no licence'}")
    if thumb:
        src = "data:image/jpeg;base64," + base64.b64encode(thumb).decode("ascii")
        picture = f'<img src="{src}" alt="{escape(img.sha256[:12])}" title="{title}" loading="eager">'
    else:
        picture = f'<div class="none" title="{title}">no preview</div>'
    return f"<figure>{picture}<figcaption>{caption}</figcaption></figure>"


def _accepted_caption(img: CardImage) -> str:
    size = f"{img.width}x{img.height}" if img.width and img.height else "size ?"
    quality = f"q{img.quality}" if img.quality is not None else ""
    return escape(" ".join(x for x in (size, quality, img.source or "") if x))


def _rejected_caption(ex: RejectionExample) -> str:
    img = ex.image
    others = [r for r in ex.reasons if r != ex.reason]
    who = img.label or (f"query: {img.claimed}" if img.claimed else "no camera")
    detail = ex.detail or ex.reason
    short = detail if len(detail) <= CAPTION_CHARS else detail[:CAPTION_CHARS - 1] + "…"
    return (f'<b title="{escape(detail)}">{escape(short)}</b><br>{escape(who)}'
            + (f"<br><span class=muted>also {escape(', '.join(others))}</span>" if others else ""))


def _histogram(pairs: Sequence[tuple[str, int]]) -> str:
    if not pairs:
        return "<p class=muted>none</p>"
    top = max(n for _, n in pairs) or 1
    rows = "".join(f"<tr><td>{escape(k)}</td><td class=n>{n}</td><td>{_bar(n, top)}</td></tr>"
                   for k, n in pairs)
    return f"<table>{rows}</table>"


def _bar(n: int, top: int) -> str:
    return f'<span class="bar" style="width:{round(120 * n / max(top, 1))}px"></span>'


def _inline(pairs: Sequence[tuple[str, int]]) -> str:
    return ", ".join(f"{escape(k)} {n}" for k, n in pairs)
