"""Text for a terminal of 100 columns: tables in tabulate's "simple" format with no padding beyond
the two spaces between columns, and prose wrapped to the width."""
from __future__ import annotations

import textwrap
from contextlib import contextmanager

WIDTH = 100


@contextmanager
def _no_header_padding():
    """tabulate widens every column to its header plus MIN_PADDING (2), so that a one-letter
    column takes three; the two spaces between columns are gap enough."""
    import tabulate

    before, tabulate.MIN_PADDING = tabulate.MIN_PADDING, 0
    try:
        yield
    finally:
        tabulate.MIN_PADDING = before


def table(frame, colalign: list[str] | None = None) -> str:
    """A DataFrame of strings as a terminal table: its header, a rule, a line per row."""
    with _no_header_padding():
        return frame.to_markdown(index=False, tablefmt="simple", disable_numparse=True,
                                 **({"colalign": colalign} if colalign else {}))


def prose(text: str, width: int = WIDTH, indent: str = "") -> str:
    """A paragraph wrapped to ``width`` columns (words and paths kept whole, a later line indented
    by ``indent``)."""
    return textwrap.fill(text, width, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False)
