"""Durations counted in logarithmic buckets: bucket k >= 1 holds [BASE**(k-1), BASE**k) seconds,
bucket 0 everything under a second. A quantile read from the counts lies in the same bucket as the
exact one, so it is off by less than one bucket width (19%), and usually by far less."""

import math

BASE = 2**0.25
LAST_BUCKET = 200  # 2**50 s: nothing real is longer


def bucket_of(seconds: float) -> int:
    if seconds < 1:
        return 0
    return min(LAST_BUCKET, int(math.floor(math.log(seconds) / math.log(BASE))) + 1)


def bucket_bounds(bucket: int) -> tuple[float, float]:
    if bucket == 0:
        return 0.0, 1.0
    return BASE ** (bucket - 1), BASE**bucket


def quantile(counts: dict[int, int], q: float) -> float | None:
    """The q-quantile (0-1) of the durations counted in `counts` (bucket -> count), interpolated
    geometrically inside its bucket."""
    total = sum(counts.values())
    if total == 0:
        return None
    target = q * total
    seen = 0
    for bucket in sorted(counts):
        count = counts[bucket]
        if count and seen + count >= target:
            low, high = bucket_bounds(bucket)
            fraction = (target - seen) / count
            if bucket == 0:
                return low + (high - low) * fraction
            return low * (high / low) ** fraction
        seen += count
    return bucket_bounds(max(counts))[1]
