"""Streaming multipart/form-data: parts one at a time, each readable as a stream.

Werkzeug's form parser keeps every file of a request until the view runs (small ones in
memory); a batch request may carry thousands. Here the request body is decoded while the view
reads it (werkzeug's sans-IO ``MultipartDecoder``), so one part is in flight at a time and
memory stays at a few buffers whatever the request size. A part not read to its end is skipped
when the next one is asked for.
"""
from __future__ import annotations

import io
from collections.abc import Iterator
from typing import BinaryIO, cast

from flask import request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.sansio.multipart import (
    Data,
    Epilogue,
    Field,
    File,
    MultipartDecoder,
    NeedData,
    Preamble,
    State,
)

from web.api.problems import ApiProblem

PIECE = 1 << 16
MAX_HEADER_BYTES = 1 << 20  # part headers (and the decoder's buffer) never grow past this


class Part(io.RawIOBase):
    """One part: its field name, file name and content type, and its bytes as a stream."""

    def __init__(self, reader: MultipartReader, event: Field | File) -> None:
        super().__init__()
        self.name = event.name
        self.filename = event.filename if isinstance(event, File) else None
        self.content_type = event.headers.get("Content-Type")
        self._reader = reader
        self._buffer = b""
        self._more = True

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._buffer and self._more:
            event = self._reader.next_event()
            if not isinstance(event, Data):
                raise ApiProblem("malformed-request", "the multipart body is malformed")
            self._buffer, self._more = event.data, event.more_data
        n = min(len(buffer), len(self._buffer))
        buffer[:n] = self._buffer[:n]
        self._buffer = self._buffer[n:]
        return n

    def skip(self) -> None:
        while self.read(PIECE):
            pass

    def read_all(self, limit: int) -> bytes:
        """The whole (small) part, refused beyond ``limit`` bytes."""
        data = b""  # read() gives one piece at a time: gather up to limit + 1 bytes
        while len(data) <= limit and (piece := self.read(limit + 1 - len(data))):
            data += piece
        if len(data) > limit:
            raise ApiProblem("invalid-input", f"the {self.name!r} part is longer than {limit} "
                             "bytes")
        return data


class MultipartReader:
    def __init__(self, stream: BinaryIO, boundary: bytes, max_parts: int) -> None:
        self._src = stream
        self._decoder = MultipartDecoder(boundary, MAX_HEADER_BYTES, max_parts=max_parts)
        self._done = False

    def next_event(self) -> object:
        while True:
            try:
                event = self._decoder.next_event()
            except ValueError:
                raise ApiProblem("malformed-request", "the multipart body is malformed or cut "
                                 "short") from None
            except RequestEntityTooLarge:
                raise ApiProblem("request-too-large", "too many parts, or a part header is "
                                 "too large") from None
            if not isinstance(event, NeedData):
                return event
            if self._decoder.state == State.EPILOGUE:
                # The closing boundary has arrived: the parts are complete, so do not wait for
                # (or fail on) an epilogue a lying Content-Length announces but never sends.
                return Epilogue(data=b"")
            if self._done:  # the decoder wants more, but the body has ended
                raise ApiProblem("malformed-request", "the multipart body is cut short")
            chunk = self._src.read(PIECE)  # over the size limit: werkzeug's 413
            try:
                self._decoder.receive_data(chunk or None)
            except RequestEntityTooLarge:
                raise ApiProblem("request-too-large", "a part header is too large") from None
            self._done = not chunk

    def parts(self) -> Iterator[Part]:
        current: Part | None = None
        while True:
            if current is not None:
                current.skip()
            event = self.next_event()
            if isinstance(event, Preamble):
                continue
            if isinstance(event, Epilogue):
                return
            if not isinstance(event, (Field, File)):
                raise ApiProblem("malformed-request", "the multipart body is malformed")
            current = Part(self, event)
            yield current


def request_parts(max_parts: int) -> Iterator[Part]:
    """The parts of this request's multipart/form-data body, as they arrive."""
    if request.mimetype != "multipart/form-data":
        raise ApiProblem("unsupported-media-type", "send the body as multipart/form-data")
    boundary = request.mimetype_params.get("boundary", "")
    if not boundary or len(boundary) > 200 or not boundary.isascii():
        raise ApiProblem("malformed-request", "the multipart boundary is missing or invalid")
    return MultipartReader(cast(BinaryIO, request.stream), boundary.encode(), max_parts).parts()
