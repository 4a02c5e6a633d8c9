"""The receipt font: DejaVu Sans from matplotlib's data, cut down once per process.

fpdf2 subsets a loaded font in place when it writes a document, so a font cannot be shared
between documents, and loading the full DejaVu Sans (~6,000 glyphs) for every receipt costs
more than everything else on the page. Loading a prepared subset (~1,500 glyphs: the scripts
customers' names and currency signs use) is several times cheaper.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
from pathlib import Path

import matplotlib
from fontTools import subset  # type: ignore[import-untyped]
from fontTools.ttLib import TTFont  # type: ignore[import-untyped]

SOURCE = "DejaVuSans.ttf"

# Inclusive code point ranges kept in the subset.
UNICODE_RANGES: tuple[tuple[int, int], ...] = (
    (0x0020, 0x007E),  # Basic Latin
    (0x00A0, 0x024F),  # Latin-1 Supplement, Latin Extended-A and -B (Ɛ Ɔ ƙ ƴ)
    (0x0250, 0x02FF),  # IPA letters (ɛ ɔ ɓ ɗ in Akan, Ewe, Hausa names), modifier letters
    (0x0300, 0x036F),  # combining diacritical marks (Yoruba and Igbo tone marks)
    (0x0370, 0x03FF),  # Greek
    (0x0400, 0x052F),  # Cyrillic and Cyrillic Supplement
    (0x1E00, 0x1EFF),  # Latin Extended Additional (Ọ ọ ẹ ṣ ị ụ ṅ)
    (0x2000, 0x206F),  # general punctuation (– — ‘ ’ “ ” • …)
    (0x20A0, 0x20CF),  # currency symbols (₦ ₵ € ₹ ₽ …)
    (0x2116, 0x2116),  # numero sign
    (0x2122, 0x2122),  # trade mark sign
    (0x2212, 0x2212),  # minus sign
    (0xFFFD, 0xFFFD),  # replacement character
)

_lock = threading.Lock()
_prepared: Path | None = None


def dejavu_path(name: str = SOURCE) -> Path:
    """A DejaVu font file shipped in matplotlib's data directory."""
    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name


def covered(text: str) -> bool:
    """Whether every character of ``text`` lies in the subset's ranges."""
    return all(
        any(start <= ord(char) <= end for start, end in UNICODE_RANGES)
        for char in text
        if char not in "\n\t"
    )


def receipt_font() -> Path:
    """Path of the prepared DejaVu Sans subset, written to a temporary file on first use.

    Takes ~0.5 s once per process; safe to call from several threads.
    """
    global _prepared
    with _lock:
        if _prepared is None:
            directory = Path(tempfile.mkdtemp(prefix="ebb-receipt-font-"))
            atexit.register(shutil.rmtree, directory, ignore_errors=True)
            target = directory / SOURCE
            _write_subset(dejavu_path(SOURCE), target)
            _prepared = target
        return _prepared


def use_prepared(path: Path) -> None:
    """Use a subset another process prepared (receipt worker processes)."""
    global _prepared
    with _lock:
        _prepared = path


def _write_subset(source: Path, target: Path) -> None:
    options = subset.Options()
    options.hinting = False  # PDF viewers rasterise outlines themselves
    options.notdef_outline = True
    options.recommended_glyphs = True
    # With glyph names in 'post', fontTools reads the glyph order instead of rebuilding it
    # from the cmap, which takes about a quarter off fpdf2's per-document font loading.
    options.glyph_names = True
    # fpdf2 lays text out without shaping, so the layout tables are dead weight.
    options.drop_tables += ["GSUB", "GPOS", "GDEF", "FFTM", "kern", "hdmx", "LTSH", "VDMX"]
    # recalcTimestamp=False keeps head.modified, so every process writes identical bytes and
    # receipts stay byte-stable across restarts.
    font = TTFont(source, recalcTimestamp=False)
    subsetter = subset.Subsetter(options)
    subsetter.populate(
        unicodes=[cp for start, end in UNICODE_RANGES for cp in range(start, end + 1)]
    )
    subsetter.subset(font)
    font.save(target)
