"""The one place that ends the worker process when it cannot go on.

A batch that could not be stored is never committed; the process exits at once (no Faust
shutdown that might commit or wait on it) and the next start reads the batch again:
`EX_TEMPFAIL` when it was told to stop while the warehouse or broker was still away, and
`EX_SOFTWARE` for anything unexpected (a supervisor restarts it; docs/guarantees.md).
"""

from __future__ import annotations

import logging
import os
import sys

from usageflow.streams.retry import StopRequested

log = logging.getLogger(__name__)

EX_SOFTWARE = 70
EX_TEMPFAIL = 75


def exit_code_for(exc: BaseException) -> int:
    return EX_TEMPFAIL if isinstance(exc, StopRequested) else EX_SOFTWARE


def exit_worker(exc: BaseException, what: str) -> None:
    code = exit_code_for(exc)
    if code == EX_TEMPFAIL:
        log.error("%s: %s; exiting uncommitted", what, exc)
    else:
        log.error("%s; exiting so the worker can be restarted", what, exc_info=exc)
    logging.shutdown()
    sys.stderr.flush()
    os._exit(code)
