"""Reading an S3 object: the GET response body as a buffered file-like of bounded reads.

Errors can strike in the middle of a body (timeouts, resets, a short body), long after
get_object returned, so each read is translated into storage errors too.
"""
from __future__ import annotations

import io
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, BinaryIO

READ_BUFFER = 64 * 1024


def open_body(body: Any, errors: Callable[[], AbstractContextManager[None]]) -> BinaryIO:
    """Wrap a botocore StreamingBody; errors() gives the context that translates errors."""
    return io.BufferedReader(_BodyReader(body, errors), READ_BUFFER)


class _BodyReader(io.RawIOBase):
    def __init__(self, body: Any, errors: Callable[[], AbstractContextManager[None]]) -> None:
        self._body = body
        self._errors = errors

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        with self._errors():
            data = self._body.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self._body.close()
        super().close()
