"""A streaming reader of `multipart/related` bodies (RFC 2387, RFC 2046 section 5.1), as STOW-RS
requests and WADO-RS responses carry them (PS3.18 8.6.1.2). The body is read in chunks and parts
come out one at a time; caps on the part count, a part's header size and a part's size make a
hostile body cost bounded memory and fail as soon as it crosses one."""

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol

CHUNK_BYTES = 64 * 1024
MAX_HEADER_BYTES = 16 * 1024
# RFC 2046 bchars: 1 to 70 characters, the last one not a space.
BOUNDARY_PATTERN = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
TOKEN = r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"  # noqa: S105  (an RFC 7230 token, not a secret)
PARAMETER_PATTERN = re.compile(rf'\s*;\s*({TOKEN})\s*=\s*("(?:[^"\\]|\\.)*"|{TOKEN})\s*')
MEDIA_TYPE_PATTERN = re.compile(rf"\s*({TOKEN}/{TOKEN})\s*")
HEADER_NAME_PATTERN = re.compile(TOKEN)


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class MultipartError(Exception):
    """A body that cannot be read as multipart; `http_status` is the answer it deserves."""

    code = "malformed"
    http_status = 400

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class MissingBoundary(MultipartError):
    code = "missing_boundary"


class MalformedBody(MultipartError):
    code = "malformed"


class TruncatedBody(MultipartError):
    code = "truncated"


class HeadersTooLarge(MultipartError):
    code = "headers_too_large"


class TooManyParts(MultipartError):
    code = "too_many_parts"
    http_status = 413


class PartTooLarge(MultipartError):
    code = "part_too_large"
    http_status = 413


class BodyTooLarge(MultipartError):
    code = "body_too_large"
    http_status = 413


@dataclass(frozen=True)
class Part:
    headers: dict[str, str]  # names in lower case
    content: bytes

    @property
    def media_type(self) -> str:
        """The part's media type in lower case, "" when it has no Content-Type header."""
        value = self.headers.get("content-type", "")
        if not value:
            return ""
        try:
            return parse_content_type(value)[0]
        except MalformedBody:
            return value.strip().lower()


def parse_content_type(value: str) -> tuple[str, dict[str, str]]:
    """`multipart/related; type="application/dicom"; boundary=x` -> media type and parameters,
    both with names in lower case and quoted values unquoted."""
    match = MEDIA_TYPE_PATTERN.match(value)
    if match is None:
        raise MalformedBody("the Content-Type is not a media type")
    parameters: dict[str, str] = {}
    position = match.end()
    while position < len(value):
        parameter = PARAMETER_PATTERN.match(value, position)
        if parameter is None:
            if value[position:].strip(" \t;") == "":
                break
            raise MalformedBody("the Content-Type has a malformed parameter")
        name, raw = parameter.group(1).lower(), parameter.group(2)
        parameters[name] = re.sub(r"\\(.)", r"\1", raw[1:-1]) if raw.startswith('"') else raw
        position = parameter.end()
    return match.group(1).lower(), parameters


def boundary_of(content_type: str) -> bytes:
    """The boundary of a multipart Content-Type, checked against RFC 2046's rules."""
    _, parameters = parse_content_type(content_type)
    boundary = parameters.get("boundary")
    if not boundary:
        raise MissingBoundary("the Content-Type has no boundary parameter")
    if BOUNDARY_PATTERN.fullmatch(boundary) is None:
        raise MissingBoundary("the boundary is not 1 to 70 allowed characters")
    return boundary.encode("ascii")


def read_parts(
    stream: Readable,
    boundary: bytes,
    *,
    max_parts: int,
    max_part_bytes: int,
    max_header_bytes: int = MAX_HEADER_BYTES,
    max_body_bytes: int | None = None,
    chunk_bytes: int = CHUNK_BYTES,
) -> Iterator[Part]:
    """Yield the parts of a multipart body read from `stream`, each once it is whole.

    Raises a MultipartError subclass as soon as the body breaks a rule or a cap; the parts yielded
    before that were whole. The epilogue after the closing boundary is not read."""
    body = _Body(stream, chunk_bytes=chunk_bytes, max_body_bytes=max_body_bytes)
    dash_boundary = b"--" + boundary
    delimiter = b"\r\n" + dash_boundary
    body.skip_preamble(dash_boundary, delimiter, max_header_bytes)
    count = 0
    while not body.at_close(max_header_bytes):
        count += 1
        if count > max_parts:
            raise TooManyParts(f"more than {max_parts} parts")
        headers = body.read_headers(max_header_bytes, part_number=count)
        content = body.read_content(delimiter, max_part_bytes, part_number=count)
        yield Part(headers=headers, content=content)


class _Body:
    """The unread bytes of the body, filled from the stream on demand."""

    def __init__(self, stream: Readable, *, chunk_bytes: int, max_body_bytes: int | None):
        self.stream = stream
        self.chunk_bytes = chunk_bytes
        self.max_body_bytes = max_body_bytes
        self.buffer = bytearray()
        self.read_bytes = 0
        self.ended = False

    def fill(self) -> bool:
        """Read one more chunk; False at the end of the stream."""
        if self.ended:
            return False
        chunk = self.stream.read(self.chunk_bytes)
        if not chunk:
            self.ended = True
            return False
        self.read_bytes += len(chunk)
        if self.max_body_bytes is not None and self.read_bytes > self.max_body_bytes:
            raise BodyTooLarge(f"the body is larger than {self.max_body_bytes} bytes")
        self.buffer += chunk
        return True

    def ensure(self, size: int) -> bool:
        while len(self.buffer) < size:
            if not self.fill():
                return False
        return True

    def skip_preamble(self, dash_boundary: bytes, delimiter: bytes, limit: int) -> None:
        # The body may start with the boundary itself or with a preamble ending in CRLF.
        while True:
            if self.buffer.startswith(dash_boundary):
                del self.buffer[: len(dash_boundary)]
                return
            found = self.buffer.find(delimiter)
            if found >= 0:
                del self.buffer[: found + len(delimiter)]
                return
            if len(self.buffer) > limit + len(delimiter):
                raise MalformedBody("the body does not start with the boundary of its Content-Type")
            if not self.fill():
                if self.read_bytes == 0:
                    raise TruncatedBody("the body is empty")
                raise MalformedBody("the boundary of the Content-Type does not occur in the body")

    def at_close(self, limit: int) -> bool:
        """After a boundary: True for the closing `--`, else skip padding and the line break."""
        if not self.ensure(2):
            raise TruncatedBody("the body ends without its closing boundary")
        if self.buffer.startswith(b"--"):
            return True
        padding = 0
        while True:
            while padding < len(self.buffer) and self.buffer[padding] in b" \t":
                padding += 1
            if padding > limit:
                raise MalformedBody("a boundary line is followed by too much padding")
            if padding < len(self.buffer):
                break
            if not self.fill():
                raise TruncatedBody("the body ends without its closing boundary")
        if not self.ensure(padding + 2):
            raise TruncatedBody("the body ends without its closing boundary")
        if self.buffer[padding : padding + 2] != b"\r\n":
            raise MalformedBody("a boundary line is not followed by a line break")
        del self.buffer[: padding + 2]
        return False

    def read_headers(self, limit: int, *, part_number: int) -> dict[str, str]:
        if not self.ensure(2):
            raise TruncatedBody(f"the body ends in the headers of part {part_number}")
        if self.buffer.startswith(b"\r\n"):  # a part without headers
            del self.buffer[:2]
            return {}
        searched = 0
        while True:
            end = self.buffer.find(b"\r\n\r\n", searched)
            if end >= 0:
                break
            if len(self.buffer) > limit:
                raise HeadersTooLarge(f"the headers of part {part_number} exceed {limit} bytes")
            searched = max(0, len(self.buffer) - 3)
            if not self.fill():
                raise TruncatedBody(f"the body ends in the headers of part {part_number}")
        if end > limit:
            raise HeadersTooLarge(f"the headers of part {part_number} exceed {limit} bytes")
        block = bytes(self.buffer[:end])
        del self.buffer[: end + 4]
        return _parse_headers(block, part_number)

    def read_content(self, delimiter: bytes, limit: int, *, part_number: int) -> bytes:
        content = bytearray()
        keep = len(delimiter) - 1  # a delimiter may straddle two chunks
        while True:
            found = self.buffer.find(delimiter)
            if found >= 0:
                if len(content) + found > limit:
                    raise PartTooLarge(f"part {part_number} is larger than {limit} bytes")
                content += self.buffer[:found]
                del self.buffer[: found + len(delimiter)]
                return bytes(content)
            movable = len(self.buffer) - keep
            if movable > 0:
                content += self.buffer[:movable]
                del self.buffer[:movable]
                if len(content) > limit:
                    raise PartTooLarge(f"part {part_number} is larger than {limit} bytes")
            if not self.fill():
                raise TruncatedBody(f"the body ends inside part {part_number}")


def _parse_headers(block: bytes, part_number: int) -> dict[str, str]:
    headers: dict[str, str] = {}
    lines: list[str] = []
    for line in block.decode("latin-1").split("\r\n"):
        if line[:1] in (" ", "\t") and lines:  # an obsolete folded continuation line
            lines[-1] += " " + line.strip()
        else:
            lines.append(line)
    for line in lines:
        name, colon, value = line.partition(":")
        if not colon or HEADER_NAME_PATTERN.fullmatch(name) is None:
            raise MalformedBody(f"part {part_number} has a malformed header line")
        headers[name.lower()] = value.strip()
    return headers
