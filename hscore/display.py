"""One way to show a result: ``summary()``, ``print_summary()``, ``str()`` and ``_repr_html_``.

Every result object (calibration, comparison, promotion, monitoring) derives from
:class:`ResultDisplay` and says *what* it shows — a header line, a list of sections (a
caption with a table or lines of text), closing lines and warnings — and this module says
*how*, once, for the terminal and for Jupyter (in the manner of lifelines'
``StatisticalResult``).

Examples
--------
>>> import pandas as pd
>>> class Toy(ResultDisplay):
...     def _header(self):
...         return "toy result"
...     def summary(self):
...         return pd.DataFrame({"x": [1.23456]})
...     def _sections(self):
...         return [Section("values", self.summary())]
>>> print(Toy())
toy result
<BLANKLINE>
values:
     x
1.2346
>>> "<h4>toy result</h4>" in Toy()._repr_html_()
True
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Sequence

import pandas as pd

__all__ = ["ResultDisplay", "Section"]


@dataclass(frozen=True)
class Section:
    """A captioned block: a table, or lines of text (``table`` None)."""

    caption: str | None
    table: pd.DataFrame | None = None
    lines: Sequence[str] = field(default_factory=tuple)
    index: bool = False


class ResultDisplay:
    """Mixin: subclasses implement ``_header()``, ``summary()`` and ``_sections()``;
    ``_footer()`` (verdict or decision lines) and ``_warnings()`` are optional."""

    #: Rounding of tables in print and HTML.
    decimals: int = 4

    # -- what a result shows (subclasses) ---------------------------------------------
    def _header(self) -> str:
        raise NotImplementedError

    def summary(self) -> pd.DataFrame:
        raise NotImplementedError

    def _sections(self) -> list[Section]:
        return [Section(None, self.summary())]

    def _footer(self) -> list[str]:
        return []

    def _warnings(self) -> list[str]:
        return []

    # -- how it is shown (once, for every result) ------------------------------------
    def _text(self, decimals: int, warnings: bool) -> str:
        out = [self._header()]
        for sec in self._sections():
            out.append("")
            if sec.caption:
                out.append(f"{sec.caption}:")
            if sec.table is not None:
                out.append(sec.table.round(decimals).to_string(index=sec.index))
            out.extend(sec.lines)
        footer = self._footer()
        if footer:
            out.append("")
            out.extend(footer)
        if warnings:
            out.extend(f"warning: {w}" for w in self._warnings())
        return "\n".join(out)

    def print_summary(self, decimals: int | None = None, warnings: bool = True) -> None:
        """Print the header, every section, the closing lines and the warnings.

        Parameters
        ----------
        decimals : int, optional
            Rounding of the tables (default :attr:`decimals`).
        warnings : bool, default True
            Print the warnings too (the CLI has printed them on stderr already).
        """
        print(self._text(self.decimals if decimals is None else decimals, warnings))

    def __str__(self) -> str:
        return self._text(self.decimals, True)

    def _repr_html_(self) -> str:
        parts = [f"<h4>{'<br>'.join(map(html.escape, self._header().splitlines()))}</h4>"]
        for sec in self._sections():
            if sec.caption:
                parts.append(f"<p><i>{html.escape(sec.caption)}</i></p>")
            if sec.table is not None:
                parts.append(sec.table.round(self.decimals).to_html(index=sec.index))
            if sec.lines:
                parts.append("<ul>" + "".join(f"<li>{html.escape(s.strip())}</li>"
                                              for s in sec.lines) + "</ul>")
        parts.extend(f"<p><b>{html.escape(s)}</b></p>" for s in self._footer())
        warns = self._warnings()
        if warns:
            parts.append("<ul>" + "".join(f"<li>warning: {html.escape(w)}</li>"
                                          for w in warns) + "</ul>")
        return "\n".join(parts)
