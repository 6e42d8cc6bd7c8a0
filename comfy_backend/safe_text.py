"""Making text that came from a server safe to print on a terminal.

A server (or anything in front of it) chooses its error texts, node names and file
names. Printed raw, an ``ESC ] 0 ; … BEL`` would retitle the terminal, ``ESC [ 2 J``
clear it and ``ESC ] 52 ; c ; …`` write the clipboard. :func:`sanitize` is the one
function every printer of foreign text goes through.
"""
from __future__ import annotations

import re

#: how many characters of one foreign text are shown before it is cut
DEFAULT_MAX_CHARS = 2000

# Whole escape sequences first (so their parameters do not survive as visible junk):
# OSC ... (BEL | ST), DCS/SOS/PM/APC ... ST, CSI ... final byte, two-byte ESC sequences;
# the 8-bit C1 forms (\x9b CSI, \x9d OSC, \x90 DCS…) as well.
_SEQUENCES = re.compile(
    r"(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"        # OSC (title, clipboard, hyperlinks)
    r"|(?:\x1b[PX^_]|[\x90\x98\x9e\x9f])[^\x1b\x9c]*(?:\x1b\\|\x9c)?"  # DCS, SOS, PM, APC
    r"|(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]?"                            # CSI (cursor, clear screen, colours)
    r"|\x1b[ -/]*[0-~]?"                                             # other ESC sequences, lone ESC
)
# Remaining C0 controls except \n and \t, DEL, C1 controls, and Unicode bidi overrides
# and line/paragraph separators that can make a line read differently than it is.
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    ch = match.group(0)
    if ch == "\r":
        return "\\r"
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def sanitize(text: object, *, max_chars: int | None = DEFAULT_MAX_CHARS, newlines: bool = True) -> str:
    """``text`` with escape sequences removed and other control characters shown escaped.

    Newlines are kept when ``newlines`` (a traceback stays readable) and escaped
    otherwise (one line per item). Texts longer than ``max_chars`` are cut with a note
    ``… (N more characters)``; ``None`` keeps everything.
    """
    s = text if isinstance(text, str) else str(text)
    s = _SEQUENCES.sub("", s)
    s = _CONTROLS.sub(_escape, s)
    if not newlines:
        s = s.replace("\n", "\\n")
    if max_chars is not None and len(s) > max_chars:
        s = f"{s[:max_chars]}… ({len(s) - max_chars} more characters)"
    return s


def sanitize_line(text: object, *, max_chars: int | None = DEFAULT_MAX_CHARS) -> str:
    """:func:`sanitize` for a text that must stay on one line (newlines shown as ``\\n``)."""
    return sanitize(text, max_chars=max_chars, newlines=False)
