"""Reading the text a PDF page draws: every glyph, its Unicode text and its box.

Real contracts draw Chinese text with CID fonts (``/Type0``, ``/Identity-H``) whose only link to
Unicode is a ``/ToUnicode`` CMap, and producers split text freely: one glyph per ``TJ`` element,
kerning numbers in between, the text of a table cell in a form XObject.  This package therefore
runs its own small content-stream interpreter (:mod:`.interpreter`): it follows the graphics and
text state (``cm``, ``q``/``Q``, ``Tm``, ``Td``, ``Tc``, ``Tw``, ``Tz``, ``TL``, ``Ts``, ``TJ``
adjustments, form XObjects), decodes every glyph through the font's encoding and ``/ToUnicode``
map (:mod:`.fonts`, :mod:`.cmaps`), and measures it with the font's widths.  :mod:`.tokens`
cuts the content into operators.

Text drawn twice at the same place to fake a bold face counts once.  Glyph boxes are
visible-page coordinates in points (origin at the bottom-left corner of the page as displayed,
after ``/CropBox`` and ``/Rotate``); a glyph's box is its advance width by the font's declared
ascent and descent.

Known limits: glyphs without a Unicode mapping (no ``/ToUnicode`` and a non-Unicode
encoding) have no text; predefined CJK CMaps other than Identity and the Unicode ones
are decoded by their Python codec with the font's default width; the standard 14 fonts
without ``/Widths`` are measured as half an em per glyph; in vertical writing every glyph
is a 1 em cell (``/W2`` is not read); ``/ActualText`` is not used.

It reads PDFs through pyHanko's object model only (pypdf is no runtime dependency of
eseal).  The modules import nothing of the page geometry: the interpreter is given the matrix
from user space to visible points, so :mod:`signer.pages` can ask it which way a page's text
stands.
"""
