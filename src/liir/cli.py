"""The entry points' error reporting: a bad input ends as one ``liir: error:`` line on stderr, exit status 2.

Hydra composes (and type-checks) the config before our task function runs, and by default prints its own
multi-line report of a composition error. ``run`` asks Hydra to re-raise instead and reports it in one line.
"""

from __future__ import annotations

import errno
import os
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from hydra.errors import (
    ConfigCompositionException,
    InstantiationException,
    MissingConfigException,
    OverrideParseException,
)
from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

# errors of an output path that cannot be written (read-only, full disk, not a directory): the user's to fix
UNWRITABLE = {errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.ENOTDIR, errno.EEXIST}
CONF_DIR = str(Path(__file__).resolve().parents[2] / "conf")


def fail(message: str) -> NoReturn:
    print(f"liir: error: {message}", file=sys.stderr)
    sys.exit(2)


def warn(message: str) -> None:
    print(f"liir: warning: {message}", file=sys.stderr)


def run(hydra_main: Callable[[], Any]) -> None:
    """Run a ``@hydra.main`` function, reporting a composition error (a bad override or value) in one line.

    The task function reports its own clear errors with ``fail`` (Hydra lets ``SystemExit`` through); any other
    exception keeps its full traceback, because it is a bug, not a bad input.
    """
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra re-raises instead of printing its own report
    try:
        hydra_main()
    except (ConfigCompositionException, OverrideParseException) as exc:
        fail(describe_composition_error(exc))
    except OSError as exc:
        if exc.errno not in UNWRITABLE:
            raise
        where = repr(str(exc.filename)) if exc.filename else "the output"
        fail(f"cannot write {where}: {exc.strerror}")


def unwrap(exc: Exception) -> Exception:
    """The error a constructor raised, not ``hydra.utils.instantiate``'s wrapper around it."""
    cause = exc.__cause__
    return cause if isinstance(exc, InstantiationException) and isinstance(cause, Exception) else exc


def describe_composition_error(exc: Exception) -> str:
    """One line naming the bad key and value and what is allowed, from Hydra's and OmegaConf's exceptions."""
    if isinstance(exc, OverrideParseException):
        return f"cannot read {exc.override!r}: {' '.join(exc.message.split())}"
    if isinstance(exc, MissingConfigException) and exc.options is not None and exc.missing_cfg_file:
        group, _, choice = exc.missing_cfg_file.rpartition("/")
        return f"{group}={choice!r} is not allowed; use one of {', '.join(exc.options)}"
    cause = exc.__cause__
    if isinstance(cause, OmegaConfBaseException) and cause.full_key:
        reason = cause.msg.splitlines()[0]
        if isinstance(cause, ConfigKeyError | ConfigAttributeError):
            return f"{cause.full_key} is not a config key ({reason})"
        choices = re.search(r"expected one of \[(.*)\]", reason)
        if choices:
            return f"{cause.full_key}={cause.value!r} is not allowed; use one of {choices[1]}"
        return f"{cause.full_key}={cause.value!r} is not allowed: {reason}"
    return " ".join(str(exc).split())
