"""A small terminal model: what a CLI's output leaves on a screen (pure).

Enough of xterm for the CLI's Ink TUI: printable text with autowrap (and the
pending wrap at the last column), CR/LF/BS/TAB, cursor moves (``A B C D E F G
H f d``), erasing (``K``, ``J``), save/restore cursor, the foreground colour of
each cell (SGR 30–37, 90–97, 38;5;n, 38;2;r;g;b), and scrolling: lines that
leave the top stay readable, as in a terminal's scrollback. Everything else
(OSC, DCS, private modes, queries) is skipped.

Why a model and not a text search: releases up to 2.1.325 redraw by writing
only the cells that changed, so a sentence on screen need not appear whole in
the byte stream, and a wrapped token is two runs of cells, not one string.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

_SEQUENCE = re.compile(
    r"\x1b\[([0-?]*)([ -/]*)([@-~])"          # CSI
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"     # OSC (hyperlinks, colour queries)
    r"|\x1b[P^_][^\x1b]*(?:\x1b\\)?"           # DCS, PM, APC
    r"|\x1b[()*+][0-9A-Za-z]"                  # character sets
    r"|\x1b[ -/]*[0-~]?"                       # other ESC sequences (7, 8, M, c, =, >)
    r"|[\x00-\x1f\x7f]")                       # C0 controls
# An escape sequence cut off at the end of a read: kept until the rest arrives.
_UNFINISHED = re.compile(r"\x1b(?:\[[0-?]*[ -/]*|\][^\x07]*|[P^_][^\x1b]*|[()*+]|[ -/]*)")
Cell = tuple[str, str]  # (character, foreground colour: "" for the default)
BLANK: Cell = (" ", "")


def _width(char: str) -> int:
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


@dataclass
class Screen:
    """Feed it output with :meth:`feed`; read it with :meth:`lines` and :meth:`cells`."""

    cols: int = 500
    rows: int = 50
    _lines: list[list[Cell]] = field(default_factory=lambda: [[]])
    _row: int = 0           # index into _lines (scrollback included)
    _col: int = 0           # 0-based
    _wrap_pending: bool = False
    _autowrap: bool = True
    _fg: str = ""
    _saved: tuple[int, int] = (0, 0)
    _held: str = ""

    @classmethod
    def of(cls, text: str, cols: int = 500, rows: int = 50) -> Screen:
        screen = cls(cols, rows)
        screen.feed(text)
        return screen

    # -- reading ------------------------------------------------------------------
    def cells(self) -> list[list[Cell]]:
        """Every line, scrollback first, as (character, colour) cells."""
        return [list(line) for line in self._lines]

    def lines(self) -> list[str]:
        """Every line's text, right-trimmed."""
        return ["".join(char for char, _ in line).rstrip() for line in self._lines]

    # -- writing ------------------------------------------------------------------
    def feed(self, text: str) -> None:
        """Apply ``text``; it may end inside an escape sequence (the next feed ends it)."""
        text, self._held = self._held + text, ""
        last = text.rfind("\x1b")
        if last >= 0 and len(text) - last < 4096 and _UNFINISHED.fullmatch(text, last):
            text, self._held = text[:last], text[last:]
        at = 0
        for match in _SEQUENCE.finditer(text):
            self._print(text[at:match.start()])
            at = match.end()
            seq = match.group(0)
            if match.group(3) is not None:
                self._csi(match.group(1), match.group(2), match.group(3))
            elif len(seq) == 1:
                self._control(seq)
            elif seq == "\x1b7":
                self._saved = (self._row - self._top(), self._col)
            elif seq == "\x1b8":
                self._goto(self._top() + self._saved[0], self._saved[1])
            elif seq == "\x1bM":
                self._goto(self._row - 1, self._col)
        self._print(text[at:])

    def _top(self) -> int:
        return max(len(self._lines) - self.rows, 0)

    def _goto(self, row: int, col: int) -> None:
        top = self._top()
        self._row = min(max(row, top), top + self.rows - 1)
        while self._row >= len(self._lines):
            self._lines.append([])
        self._col = min(max(col, 0), self.cols - 1)
        self._wrap_pending = False

    def _linefeed(self) -> None:
        self._row += 1
        if self._row >= len(self._lines):
            self._lines.append([])  # at the bottom: the screen scrolls
        self._wrap_pending = False

    def _control(self, char: str) -> None:
        if char == "\r":
            self._col, self._wrap_pending = 0, False
        elif char in "\n\x0b\x0c":
            self._linefeed()
        elif char == "\b":
            self._goto(self._row, self._col - 1)
        elif char == "\t":
            self._goto(self._row, (self._col // 8 + 1) * 8)

    def _put(self, char: str) -> None:
        line = self._lines[self._row]
        while len(line) <= self._col:
            line.append(BLANK)
        line[self._col] = (char, self._fg)

    def _print(self, text: str) -> None:
        for char in text:
            width = _width(char)
            if self._wrap_pending or self._col + width > self.cols:
                if self._autowrap:
                    self._linefeed()
                    self._col = 0
                else:
                    self._col = self.cols - width
                self._wrap_pending = False
            self._put(char)
            if width == 2:
                self._col += 1
                self._put("")
            if self._col + 1 >= self.cols:
                self._wrap_pending = self._autowrap
            else:
                self._col += 1

    def _csi(self, params: str, _inter: str, final: str) -> None:
        if params[:1] in ("<", "=", ">", "?"):
            if params == "?7" and final in "hl":
                self._autowrap = final == "h"
            return
        args = [int(p) if p.isdigit() else 0 for p in params.split(";")] if params else []
        n = max(args[0], 1) if args else 1
        top = self._top()
        if final == "m":
            self._sgr(args or [0])
        elif final == "A":
            self._goto(self._row - n, self._col)
        elif final in "Be":
            self._goto(self._row + n, self._col)
        elif final in "Ca":
            self._goto(self._row, self._col + n)
        elif final == "D":
            self._goto(self._row, self._col - n)
        elif final == "E":
            self._goto(self._row + n, 0)
        elif final == "F":
            self._goto(self._row - n, 0)
        elif final in "G`":
            self._goto(self._row, n - 1)
        elif final == "d":
            self._goto(top + n - 1, self._col)
        elif final in "Hf":
            col = max(args[1], 1) if len(args) > 1 else 1
            self._goto(top + n - 1, col - 1)
        elif final == "K":
            self._erase_line(args[0] if args else 0)
        elif final == "J":
            self._erase_screen(args[0] if args else 0)

    def _erase_line(self, how: int) -> None:
        line = self._lines[self._row]
        if how == 0:
            del line[self._col:]
        elif how == 1:
            line[:self._col + 1] = [BLANK] * min(self._col + 1, len(line))
        else:
            line.clear()

    def _erase_screen(self, how: int) -> None:
        top = self._top()
        if how == 0:
            self._erase_line(0)
            for row in range(self._row + 1, len(self._lines)):
                self._lines[row] = []
        elif how == 1:
            for row in range(top, self._row):
                self._lines[row] = []
            self._erase_line(1)
        else:
            for row in range(top, len(self._lines)):
                self._lines[row] = []

    def _sgr(self, args: list[int]) -> None:
        i = 0
        while i < len(args):
            code = args[i]
            if code == 0 or code == 39:
                self._fg = ""
            elif 30 <= code <= 37 or 90 <= code <= 97:
                self._fg = str(code)
            elif code == 38 and i + 2 < len(args) and args[i + 1] == 5:
                self._fg = f"38;5;{args[i + 2]}"
                i += 2
            elif code == 38 and i + 4 < len(args) and args[i + 1] == 2:
                self._fg = "38;2;" + ";".join(map(str, args[i + 2:i + 5]))
                i += 4
            elif code in (48, 58) and i + 1 < len(args):
                i += 2 if args[i + 1] == 5 else 4  # background/underline colour: skipped
            i += 1
