"""A bare ASGI app for ``make bench-usage``: reads a JSON body with orjson and answers a
small JSON object, touching no database. Served by uvicorn exactly as the API is, it
measures what one HTTP request costs on this machine by itself (the client's write, the
server's parse and response, two local hops), the part of the API's time per batch that
no change to the engine's own code can remove."""

from __future__ import annotations

import orjson
from starlette.types import Receive, Scope, Send


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    if scope["method"] == "POST":
        events = orjson.loads(body)["events"]
        payload = orjson.dumps({"accepted": len(events), "duplicates": 0, "rejected": []})
    else:
        payload = b"{}"
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-length", str(len(payload)).encode()),
                (b"content-type", b"application/json"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
