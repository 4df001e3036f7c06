"""Reading short ASCII values straight from a dataset's raw elements.

Looking an element up through pydicom (dataset.get) converts it and replaces the raw element in the
source, so a kept element would then be re-encoded by pydicom instead of copied as bytes. Checks that
only need a code string or a UID read the bytes instead."""

from pydicom import Dataset


def peek_values(dataset: Dataset, tag: int) -> list[str]:
    """The non-empty values of an element (CS, UI, DA, ...); [] when absent or empty."""
    element = dataset._dict.get(tag)
    if element is None:
        return []
    value = element.value
    if element.is_raw:
        if not value:
            return []
        if value.isascii() and b"\x1b" not in value:
            values = value.decode("ascii").split("\\")
        else:  # another character set: let pydicom decode it
            return peek_values_converted(dataset, tag)
    elif value is None or value == "":
        return []
    elif isinstance(value, str | bytes) or not hasattr(value, "__iter__"):
        values = [str(value)]
    else:
        values = [str(item) for item in value]
    return [item.strip("\x00 ") for item in values if item.strip("\x00 ")]


def peek_values_converted(dataset: Dataset, tag: int) -> list[str]:
    value = dataset[tag].value
    values = [value] if isinstance(value, str) or not hasattr(value, "__iter__") else list(value)
    return [str(item).strip("\x00 ") for item in values if str(item).strip("\x00 ")]


def peek(dataset: Dataset, tag: int) -> str:
    """The first value of an element, '' when absent or empty."""
    values = peek_values(dataset, tag)
    return values[0] if values else ""
