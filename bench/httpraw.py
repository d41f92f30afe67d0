"""Minimal HTTP/1.1 client pieces on asyncio streams for the SSE benchmark probes (standard
library only): send one POST, read the response head, then the body incrementally (chunked or
close-delimited), reporting each SSE event (`\\n\\n`-terminated) as it arrives."""
import asyncio


def request_bytes(host: str, port: int, path: str, body: bytes, headers: dict) -> bytes:
    lines = [
        f"POST {path} HTTP/1.1",
        f"Host: {host}:{port}",
        "Content-Type: application/json",
        "Accept: text/event-stream",
        f"Content-Length: {len(body)}",
    ]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class SseReader:
    """Reads one response from `reader`; `events()` yields once per complete SSE event."""

    def __init__(self, reader: asyncio.StreamReader):
        self.reader = reader
        self.status = 0
        self.chunked = False
        self.length = None

    async def head(self) -> int:
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split()[1])
        for line in lines[1:]:
            k, _, v = line.partition(":")
            k = k.strip().lower()
            v = v.strip()
            if k == "transfer-encoding" and "chunked" in v.lower():
                self.chunked = True
            elif k == "content-length":
                self.length = int(v)
        return self.status

    async def _pieces(self):
        """Yields body bytes as they arrive (de-chunked)."""
        if self.chunked:
            while True:
                size_line = await self.reader.readuntil(b"\r\n")
                size = int(size_line.split(b";")[0].strip(), 16)
                if size == 0:
                    # trailers (none expected) and the final CRLF
                    while (await self.reader.readuntil(b"\r\n")) != b"\r\n":
                        pass
                    return
                left = size
                while left:
                    data = await self.reader.read(left)
                    if not data:
                        raise ConnectionError("eof inside a chunk")
                    left -= len(data)
                    yield data
                await self.reader.readexactly(2)
        elif self.length is not None:
            left = self.length
            while left:
                data = await self.reader.read(min(left, 65536))
                if not data:
                    raise ConnectionError("eof inside the body")
                left -= len(data)
                yield data
        else:
            while True:
                data = await self.reader.read(65536)
                if not data:
                    return
                yield data

    async def events(self):
        """Yields the number of complete SSE events seen so far each time it grows."""
        buf = b""
        count = 0
        async for data in self._pieces():
            buf += data
            n = buf.count(b"\n\n")
            if n:
                count += n
                buf = buf[buf.rfind(b"\n\n") + 2:]
                yield count
