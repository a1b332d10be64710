"""Sizes as people write them: ``10GB`` (powers of 1000), ``500MiB`` (powers of 1024),
``1.5G``, or a plain number of bytes."""

from __future__ import annotations

import re

_UNITS = {"": 1, "b": 1}
for _power, _letter in enumerate("kmgtp", start=1):
    _UNITS |= {_letter: 1000**_power, f"{_letter}b": 1000**_power, f"{_letter}ib": 1024**_power}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*", re.IGNORECASE)


def parse_size(text: str) -> int:
    """The number of bytes ``text`` says; a ValueError that names the forms accepted."""
    match = _SIZE.fullmatch(text)
    unit = _UNITS.get(match[2].lower()) if match else None
    if match is None or unit is None:
        raise ValueError(
            f"{text!r} is not a size: write bytes, or a number with a unit such as 500MB, "
            "10GB (powers of 1000) or 500MiB, 10GiB (powers of 1024)"
        )
    return int(float(match[1]) * unit)
