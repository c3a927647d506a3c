"""A `lifecycle worker` whose process dies right after the payment provider answered a
call named in LIFECYCLE_CRASH_AFTER, before the activity could write anything (or, with
``email_send``, right after the email provider accepted a send, before the dispatcher could
record it). The marker file makes it crash once only. Test-only fault injection at the
edges."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

from core.settings import Settings
from workers import worker as worker_module


class CrashAfterCall:
    def __init__(self, inner: Any, method: str, marker: Path) -> None:
        self._inner = inner
        self._method = method
        self._marker = marker

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._inner, name)
        if name != self._method or self._marker.exists():
            return attribute

        async def call(*args: Any, **kwargs: Any) -> Any:
            result = await attribute(*args, **kwargs)
            self._marker.touch()
            os._exit(137)  # as abrupt as SIGKILL: no cleanup, no activity completion
            return result

        return call


def main() -> None:
    method = os.environ["LIFECYCLE_CRASH_AFTER"]
    marker = Path(os.environ["LIFECYCLE_CRASH_MARKER"])
    if method == "email_send":
        real_sender = worker_module.email_sender

        def crashing_sender(*args: Any, **kwargs: Any) -> Any:
            return CrashAfterCall(real_sender(*args, **kwargs), "send", marker)

        worker_module.email_sender = crashing_sender
    else:
        real_gateway = worker_module.payment_gateway

        def crashing_gateway(*args: Any, **kwargs: Any) -> Any:
            return CrashAfterCall(real_gateway(*args, **kwargs), method, marker)

        worker_module.payment_gateway = crashing_gateway
    asyncio.run(worker_module.run_worker(Settings()))


if __name__ == "__main__":
    main()
