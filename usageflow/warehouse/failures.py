"""What a failed warehouse call means: an outage that heals, rows the engine refused, or neither.

The pipeline retries only outages (connection refused or reset, timeouts, too many parts, a held
chDB path, a disk that refuses writes for a while). When the engine refuses the *data* (a value
out of a column's range, a conversion it cannot make), retrying the same rows can never
succeed: the pipeline splits the batch to find the refused rows and dead-letters them. Anything
else (a missing table, a syntax error, bad credentials) is a bug or a setting, reported and not
retried forever.
"""

from __future__ import annotations

import re

from usageflow.errors import WarehouseError

# ClickHouse error codes (src/Common/ErrorCodes.cpp) by what they mean for a retry.
OUTAGE_CODES = frozenset(
    {
        3,  # UNEXPECTED_END_OF_FILE
        32,  # ATTEMPT_TO_READ_AFTER_EOF
        74,  # CANNOT_READ_FROM_FILE_DESCRIPTOR
        75,  # CANNOT_WRITE_TO_FILE_DESCRIPTOR
        76,  # CANNOT_OPEN_FILE
        159,  # TIMEOUT_EXCEEDED
        164,  # READONLY
        202,  # TOO_MANY_SIMULTANEOUS_QUERIES
        209,  # SOCKET_TIMEOUT
        210,  # NETWORK_ERROR
        236,  # ABORTED
        241,  # MEMORY_LIMIT_EXCEEDED
        242,  # TABLE_IS_READ_ONLY
        243,  # NOT_ENOUGH_SPACE
        252,  # TOO_MANY_PARTS
        319,  # UNKNOWN_STATUS_OF_INSERT
        394,  # QUERY_WAS_CANCELLED
        425,  # SYSTEM_ERROR (an errno from the operating system: permissions, disk)
        999,  # KEEPER_EXCEPTION
        1000,  # POCO_EXCEPTION (network)
        1001,  # STD_EXCEPTION (filesystem errors surface this way)
    }
)
DATA_CODES = frozenset(
    {
        6,  # CANNOT_PARSE_TEXT
        27,  # CANNOT_PARSE_INPUT_ASSERTION_FAILED
        38,  # CANNOT_PARSE_DATE
        41,  # CANNOT_PARSE_DATETIME
        53,  # TYPE_MISMATCH
        69,  # ARGUMENT_OUT_OF_BOUND
        70,  # CANNOT_CONVERT_TYPE
        72,  # CANNOT_PARSE_NUMBER
        117,  # INCORRECT_DATA
        128,  # TOO_LARGE_ARRAY_SIZE
        131,  # TOO_LARGE_STRING_SIZE
        321,  # VALUE_IS_OUT_OF_RANGE_OF_DATA_TYPE
        407,  # DECIMAL_OVERFLOW
    }
)
# Transport failures carry no code; these words are what clickhouse-connect and urllib3 say.
_OUTAGE_WORDS = re.compile(
    r"connection (refused|reset|aborted)|timed? ?out|broken pipe|temporarily unavailable|"
    r"max retries exceeded|name or service not known|cannot lock file|already running|"
    r"operation not permitted|permission denied|no space left|read-only file system",
    re.IGNORECASE,
)
_CODE = re.compile(r"\bCode:\s*(\d+)")
_NAME = re.compile(r"\(([A-Z][A-Z0-9_]{2,})\)")


def classify(code: int | None, message: str) -> str:
    """`outage`, `data` or `fatal` for an error with this code (None: none given) and text."""
    if code in DATA_CODES:
        return "data"
    if code in OUTAGE_CODES or _OUTAGE_WORDS.search(message):
        return "outage"
    return "fatal"


def warehouse_error(exc: BaseException, context: str = "") -> WarehouseError:
    """A WarehouseError keeping the engine's code and name, with a one-line message."""
    text = str(exc).strip()
    code = getattr(exc, "code", None)
    if not isinstance(code, int):
        found = _CODE.search(text)
        code = int(found.group(1)) if found else None
    name = getattr(exc, "name", None)
    if not isinstance(name, str) or not name:
        names = _NAME.findall(text[:2000])
        name = names[-1] if names else None
    first = text.splitlines()[0] if text else type(exc).__name__
    if code is not None and f"Code: {code}" not in first:
        first = f"Code: {code}{f' ({name})' if name else ''}. {first}"
    message = f"{context}: {first[:1000]}" if context else first[:1000]
    return WarehouseError(message, code=code, name=name, kind=classify(code, text[:4000]))


def data_error(exc: BaseException, context: str = "") -> WarehouseError:
    """Rows that could not even be converted for the engine (Arrow refused a value client-side)."""
    text = str(exc).strip().splitlines()
    first = text[0] if text else type(exc).__name__
    message = f"{context}: {type(exc).__name__}: {first[:1000]}" if context else f"{type(exc).__name__}: {first[:1000]}"
    return WarehouseError(message, kind="data")
