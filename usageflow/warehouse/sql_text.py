"""Reading the SQL files: statements, comments, the names a file defines and the names it uses."""

from __future__ import annotations

import re

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DEFINES = re.compile(
    r"^CREATE\s+(?:OR\s+REPLACE\s+)?(?:VIEW|TABLE|FUNCTION)\s+(?:IF\s+NOT\s+EXISTS\s+)?([A-Za-z_][A-Za-z0-9_]*)",
    re.IGNORECASE,
)


def strip_comments(sql: str) -> str:
    """`sql` without `--` comments (string literals and quoted names are left alone)."""
    out: list[str] = []
    i, n = 0, len(sql)
    quote: str | None = None
    while i < n:
        ch = sql[i]
        if quote is not None:
            out.append(ch)
            if ch == "\\" and i + 1 < n:
                out.append(sql[i + 1])
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch in "'`\"":
            quote = ch
            out.append(ch)
        elif sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end < 0 else end
            continue
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def statements(sql: str) -> list[str]:
    """The statements of a file, comments removed: separated by `;` at the end of a line."""
    code = strip_comments(sql)
    parts = re.split(r";\s*(?:\n|$)", code)
    return [normalise(p) for p in parts if p.strip()]


def normalise(statement: str) -> str:
    """One statement with its lines right-trimmed and blank lines dropped (stable checksums)."""
    lines = [line.rstrip() for line in statement.strip().splitlines()]
    return "\n".join(line for line in lines if line)


def defined_name(statement: str) -> str | None:
    """The object a CREATE statement defines, or None for any other statement."""
    match = _DEFINES.match(statement)
    return match.group(1) if match else None


def _without_literals(code: str) -> str:
    return re.sub(r"'(?:[^'\\]|\\.)*'", "''", code)


def identifiers(statement: str) -> set[str]:
    """Every bare word of a statement outside string literals: a superset of the objects it reads."""
    return set(_IDENTIFIER.findall(_without_literals(statement)))
