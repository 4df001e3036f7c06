import io

import pytest

from dicomkit.multipart import (
    BodyTooLarge,
    HeadersTooLarge,
    MalformedBody,
    MissingBoundary,
    Part,
    PartTooLarge,
    TooManyParts,
    TruncatedBody,
    boundary_of,
    parse_content_type,
    read_parts,
)

BOUNDARY = b"b0undary-x"


def body(
    *contents: bytes,
    boundary: bytes = BOUNDARY,
    headers: bytes = b"Content-Type: application/dicom\r\n",
) -> bytes:
    """A body the way dicomweb-client writes one: CRLF before every boundary line."""
    out = b"".join(b"\r\n--" + boundary + b"\r\n" + headers + b"\r\n" + content for content in contents)
    return out + b"\r\n--" + boundary + b"--"


class CountingStream(io.BytesIO):
    """Remembers how far the reader got, to show that it stops early."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.furthest = 0

    def read(self, size: int = -1) -> bytes:
        chunk = super().read(size)
        self.furthest = self.tell()
        return chunk


def parts_of(data: bytes, **caps) -> list[Part]:
    limits = {"max_parts": 100, "max_part_bytes": 1 << 20, **caps}
    return list(read_parts(io.BytesIO(data), BOUNDARY, **limits))


def test_content_type_parameters_are_parsed_with_quotes_and_case():
    media_type, parameters = parse_content_type(
        'Multipart/Related; Type="application/dicom"; boundary="a;b \\"c\\""; start=x'
    )
    assert media_type == "multipart/related"
    assert parameters == {
        "type": "application/dicom",
        "boundary": 'a;b "c"',
        "start": "x",
    }


@pytest.mark.parametrize("value", ["", "multipart", "multipart/related; type", "multipart/related; =x"])
def test_malformed_content_types_are_refused(value):
    with pytest.raises(MalformedBody):
        parse_content_type(value)


def test_boundary_is_taken_from_the_content_type():
    assert boundary_of('multipart/related; type="application/dicom"; boundary=abc-123') == b"abc-123"


@pytest.mark.parametrize(
    "content_type",
    [
        'multipart/related; type="application/dicom"',
        'multipart/related; boundary=""',
        "multipart/related; boundary=" + "x" * 71,
        'multipart/related; boundary="a\tb"',
    ],
)
def test_a_missing_or_invalid_boundary_is_reported(content_type):
    with pytest.raises(MissingBoundary):
        boundary_of(content_type)


def test_parts_come_out_with_headers_and_exact_bytes():
    contents = [b"first", b"\r\n--b0undary-not-this\r\n", b"", bytes(range(256)) * 10]
    parts = parts_of(body(*contents))
    assert [part.content for part in parts] == contents
    assert parts[0].headers == {"content-type": "application/dicom"}
    assert parts[0].media_type == "application/dicom"


@pytest.mark.parametrize("chunk_bytes", [1, 2, 3, 5, 11, 17, 64, 1 << 16])
def test_chunk_size_does_not_change_the_parts(chunk_bytes):
    contents = [b"A" * 100, b"\r\n-" * 40, b"B" * 3]
    stream = io.BytesIO(body(*contents))
    parts = read_parts(stream, BOUNDARY, max_parts=10, max_part_bytes=1000, chunk_bytes=chunk_bytes)
    assert [part.content for part in parts] == contents


def test_body_may_start_with_the_boundary_or_with_a_preamble():
    plain = b"--" + BOUNDARY + b"\r\n\r\nbare\r\n--" + BOUNDARY + b"--\r\n"
    preamble = b"This is a preamble.\r\n" + plain + b"epilogue"
    assert [part.content for part in parts_of(plain)] == [b"bare"]
    assert [part.content for part in parts_of(preamble)] == [b"bare"]


def test_a_part_without_headers_and_folded_headers_are_read():
    data = (
        b"--" + BOUNDARY + b"\r\n\r\nno headers"
        b"\r\n--" + BOUNDARY + b" \t\r\nContent-Type: application/dicom;\r\n transfer-syntax=1.2.840.10008.1.2.1\r\n"
        b"X-Thing:  padded  \r\n\r\nfolded"
        b"\r\n--" + BOUNDARY + b"--"
    )
    first, second = parts_of(data)
    assert first.headers == {} and first.content == b"no headers"
    assert second.headers["content-type"] == "application/dicom; transfer-syntax=1.2.840.10008.1.2.1"
    assert second.headers["x-thing"] == "padded"
    assert second.media_type == "application/dicom"


def test_an_empty_multipart_has_no_parts():
    assert parts_of(b"--" + BOUNDARY + b"--\r\n") == []


def test_the_epilogue_is_not_read():
    stream = CountingStream(body(b"x") + b"\r\n" + b"E" * 100_000)
    assert len(list(read_parts(stream, BOUNDARY, max_parts=5, max_part_bytes=100, chunk_bytes=1024))) == 1
    assert stream.furthest <= 1024


def test_an_empty_body_is_truncated():
    with pytest.raises(TruncatedBody, match="empty"):
        parts_of(b"")


def test_a_body_without_its_boundary_is_malformed():
    with pytest.raises(MalformedBody, match="boundary"):
        parts_of(b"just some bytes that are not multipart at all")


def test_a_body_cut_inside_a_part_keeps_the_whole_parts_before_it():
    whole = body(b"first whole part", b"second part, cut")
    reader = read_parts(
        io.BytesIO(whole[: whole.index(b"cut") + 1]),
        BOUNDARY,
        max_parts=5,
        max_part_bytes=100,
    )
    assert next(reader).content == b"first whole part"
    with pytest.raises(TruncatedBody, match="inside part 2"):
        next(reader)


@pytest.mark.parametrize(
    "cut",
    [
        b"--" + BOUNDARY + b"\r\nContent-Ty",  # in the headers
        b"--" + BOUNDARY + b"\r\n\r\ncontent\r\n--" + BOUNDARY,  # after a boundary, before its line end
        b"--" + BOUNDARY,  # right after the opening boundary
    ],
)
def test_a_body_cut_anywhere_is_truncated(cut):
    with pytest.raises(TruncatedBody):
        parts_of(cut)


@pytest.mark.parametrize(
    "data",
    [
        b"--" + BOUNDARY + b"junk\r\n\r\nx\r\n--" + BOUNDARY + b"--",  # boundary followed by other text
        b"--" + BOUNDARY + b"\r\nno colon here\r\n\r\nx\r\n--" + BOUNDARY + b"--",
        b"--" + BOUNDARY + b"\r\nBad Name: x\r\n\r\nx\r\n--" + BOUNDARY + b"--",
    ],
)
def test_malformed_parts_are_refused(data):
    with pytest.raises(MalformedBody):
        parts_of(data)


def test_too_many_parts_stop_the_reader_before_the_rest_is_read():
    data = body(*[b"p"] * 10_000)
    stream = CountingStream(data)
    reader = read_parts(stream, BOUNDARY, max_parts=100, max_part_bytes=10, chunk_bytes=4096)
    with pytest.raises(TooManyParts):
        for _ in reader:
            pass
    assert stream.furthest < len(data) / 10


def test_a_part_over_its_cap_is_refused_before_it_is_read_whole():
    data = body(b"x" * 1_000_000)
    stream = CountingStream(data)
    with pytest.raises(PartTooLarge):
        list(read_parts(stream, BOUNDARY, max_parts=5, max_part_bytes=10_000, chunk_bytes=4096))
    assert stream.furthest < 20_000


def test_a_part_just_at_its_cap_is_accepted():
    assert parts_of(body(b"x" * 1000), max_part_bytes=1000)[0].content == b"x" * 1000
    with pytest.raises(PartTooLarge):
        parts_of(body(b"x" * 1001), max_part_bytes=1000)


def test_huge_headers_are_refused_early():
    data = b"--" + BOUNDARY + b"\r\nX-Big: " + b"h" * 1_000_000 + b"\r\n\r\nx\r\n--" + BOUNDARY + b"--"
    stream = CountingStream(data)
    with pytest.raises(HeadersTooLarge):
        list(
            read_parts(
                stream,
                BOUNDARY,
                max_parts=5,
                max_part_bytes=10,
                max_header_bytes=8192,
                chunk_bytes=4096,
            )
        )
    assert stream.furthest < 20_000


def test_a_huge_preamble_is_refused_early():
    data = b"p" * 1_000_000 + body(b"x")
    stream = CountingStream(data)
    with pytest.raises(MalformedBody):
        list(
            read_parts(
                stream,
                BOUNDARY,
                max_parts=5,
                max_part_bytes=10,
                max_header_bytes=8192,
                chunk_bytes=4096,
            )
        )
    assert stream.furthest < 20_000


def test_the_whole_body_has_a_cap_too():
    with pytest.raises(BodyTooLarge):
        parts_of(body(*[b"x" * 100] * 20), max_body_bytes=1000)
