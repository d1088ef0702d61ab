"""Read a user's CSV as they wrote it: any common delimiter, a BOM, Windows or old Mac line ends,
quoted fields, blank or all-empty rows; every cell kept as text.

Users' files come from spreadsheets, pandas and hand edits, so the reader sniffs the delimiter
(``csv.Sniffer`` on a sample) unless told, and explains the usual ways a file goes wrong (empty,
header only, one column because of the wrong delimiter, a row with too many fields) in terms of
the file: data rows are numbered from 1 below the header, and each is given with its line.
"""

from __future__ import annotations

import codecs
import csv
import io
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from admire.errors import ValidationError

DELIMITERS = {",": "','", ";": "';'", "\t": "tab", "|": "'|'"}
DELIMITER_NAMES = {"comma": ",", "semicolon": ";", "tab": "\t", "\\t": "\t", "pipe": "|"}
SNIFF_BYTES = 64 * 1024


@dataclass(frozen=True)
class UserCsv:
    """A user's CSV: ``frame`` holds the data rows as text under the header's names."""

    source: str
    frame: pd.DataFrame
    lines: list[int]  # file line (1-based) where each data row starts
    delimiter: str
    sniffed: bool  # True when the delimiter was detected, not given
    skipped_rows: int  # blank or all-empty rows left out

    def row_label(self, index: int, run_id: str | None = None) -> str:
        """``data row 3 (line 5)``: the numbering a user finds in an editor, and which it is."""
        rid = f", run id {run_id!r}" if run_id else ""
        return f"data row {index + 1} (line {self.lines[index]}{rid})"


def delimiter_name(delimiter: str) -> str:
    return DELIMITERS.get(delimiter, repr(delimiter))


def parse_delimiter(text: str | None) -> str | None:
    """``--delimiter``: one character, or a name (comma, semicolon, tab, pipe); None = sniff."""
    if text is None or text == "":
        return None
    value = DELIMITER_NAMES.get(text.lower(), text)
    if len(value) != 1 or value in "\"\r\n" or value.isalnum():
        raise ValidationError(f"expected one character such as ',' ';' '|' or the word tab, got "
                              f"{text!r}", where="--delimiter")
    return value


def _decode(path: Path) -> str:
    data = path.read_bytes()
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):  # Excel's "Unicode text"
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise ValidationError(f"not valid UTF-16 text (byte {exc.start})",
                                  where=str(path)) from None
    try:
        return data.decode("utf-8-sig")  # a UTF-8 BOM is dropped, not glued to the first name
    except UnicodeDecodeError as exc:
        raise ValidationError(f"not UTF-8 text (byte {exc.start}); save the file as UTF-8 CSV",
                              where=str(path)) from None


def _sniff(text: str) -> str:
    """The delimiter of ``text``, from a sample of whole lines; ',' when the sniffer cannot tell."""
    sample = text[:SNIFF_BYTES]
    if len(text) > SNIFF_BYTES and "\n" in sample:
        sample = sample[: sample.rindex("\n")]
    try:
        return csv.Sniffer().sniff(sample, delimiters="".join(DELIMITERS)).delimiter
    except csv.Error:
        return ","


def _likely_delimiter(header: str) -> str | None:
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else None


def read_user_csv(path: str | Path, *, delimiter: str | None = None) -> UserCsv:
    """Read ``path`` into text cells; errors name the file, and the data row and line."""
    path = Path(path)
    source = str(path)
    if not path.exists():
        raise ValidationError("file not found", where=source)
    if path.is_dir():
        raise ValidationError("is a folder, not a CSV file", where=source)
    text = _decode(path)
    if not text.strip():
        raise ValidationError("empty file: no header and no data rows", where=source)
    sniffed = delimiter is None
    delim = _sniff(text) if delimiter is None else delimiter
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim, skipinitialspace=True)
    try:
        records = [(reader.line_num, row) for row in reader]
    except csv.Error as exc:
        raise ValidationError(f"malformed CSV at line {reader.line_num}: {exc}",
                              where=source) from None
    start_lines = [1] + [end + 1 for end, _ in records[:-1]]
    rows = [(line, row) for line, (_, row) in zip(start_lines, records, strict=True)
            if any(cell.strip() for cell in row)]
    skipped = len(records) - len(rows)
    (_, header), body = rows[0], rows[1:]
    header = [name.strip() for name in header]
    while header and not header[-1] and all(len(r) < len(header) or not r[len(header) - 1]
                                            for _, r in body):
        header.pop()  # a trailing delimiter on every line: an empty last column, not data
    _check_header(header, source, delim, sniffed, text)
    if not body:
        raise ValidationError(f"no data rows: the file has a header only ({len(header)} "
                              "columns)", where=source)
    cells = []
    for i, (line, row) in enumerate(body):
        extra = row[len(header):]
        if len(row) < len(header) or any(cell.strip() for cell in extra):
            raise ValidationError(
                f"has {len(row)} fields, the header has {len(header)}; a {delimiter_name(delim)} "
                "inside a value needs the value in double quotes",
                where=f"{source}, data row {i + 1} (line {line})")
        cells.append(row[: len(header)])
    frame = pd.DataFrame(cells, columns=header, dtype=object)
    return UserCsv(source, frame, [line for line, _ in body], delim, sniffed, skipped)


def _check_header(header: list[str], source: str, delim: str, sniffed: bool, text: str) -> None:
    if len(header) == 1:
        first_line = text.splitlines()[0]
        guess = _likely_delimiter(first_line.replace(delim, ""))
        how = "detected" if sniffed else "given"
        if guess is not None:
            raise ValidationError(
                f"the file parses into a single column {header[0]!r} with the {how} delimiter "
                f"{delimiter_name(delim)}: the delimiter is probably wrong; it looks like "
                f"{delimiter_name(guess)} (pass --delimiter "
                f"{'tab' if guess == chr(9) else repr(guess)})", where=source)
        raise ValidationError(f"the file has a single column {header[0]!r}; an import needs a "
                              "fidelity column, weight columns and metric columns", where=source)
    blank = [i + 1 for i, name in enumerate(header) if not name]
    if blank:
        raise ValidationError(f"column {blank[0]} of the header has no name", where=source)
    seen: dict[str, int] = {}
    for i, name in enumerate(header):
        if name in seen:
            raise ValidationError(f"column {name!r} appears twice in the header (columns "
                                  f"{seen[name] + 1} and {i + 1})", where=source)
        seen[name] = i
