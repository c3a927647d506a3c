"""Ending a short command that used a Temporal client.

The SDK's Rust threads can outlive the event loop, and when the interpreter then finalizes
they may release a thread state that is no longer current: the process aborts (SIGABRT,
exit -6) after its work is done (temporalio/sdk-python#300, still open). A command that
connected to Temporal therefore ends its process here, once it has finished and flushed
what the interpreter's exit would have flushed (its output and the logs)."""

from __future__ import annotations

import functools
import logging
import os
import sys
from collections.abc import Callable
from typing import ParamSpec

import click
import typer

P = ParamSpec("P")


def exit_now(code: int = 0) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    logging.shutdown()
    os._exit(code)


def ends_process(command: Callable[P, None]) -> Callable[P, None]:
    """The command, then the end of the process: with status 0 when it returns normally,
    with its status when it exits on purpose (``typer.Exit``, after printing its error:
    the refusal path aborted as the success path did). Any other exception still goes
    through the CLI's own handling."""

    @functools.wraps(command)
    def run(*args: P.args, **kwargs: P.kwargs) -> None:
        try:
            command(*args, **kwargs)
        except (typer.Exit, click.exceptions.Exit) as exc:
            exit_now(exc.exit_code)
        exit_now(0)

    return run
