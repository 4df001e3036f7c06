"""The profile options a caller chooses, and device-specific pixel blanking rules."""

from dataclasses import dataclass, field

# Retain Safe Private Option (PS3.15 E.3.10): (group, private creator, element byte) of private
# attributes known to carry acquisition physics only; diffusion b-values are the usual case.
DEFAULT_SAFE_PRIVATE_TAGS: frozenset[tuple[int, str, int]] = frozenset(
    {
        (0x0019, "SIEMENS MR HEADER", 0x0C),  # B_value
        (0x0019, "SIEMENS MR HEADER", 0x0D),  # DiffusionDirectionality
        (0x0019, "SIEMENS MR HEADER", 0x0E),  # DiffusionGradientDirection
        (0x0019, "SIEMENS MR HEADER", 0x27),  # B_matrix
        (0x0043, "GEMS_PARM_01", 0x39),  # slop_int_6..9 (b-value)
        (0x2001, "Philips Imaging DD 001", 0x03),  # Diffusion B-Factor
        (0x2001, "Philips Imaging DD 001", 0x04),  # Diffusion Direction
    }
)


@dataclass(frozen=True)
class BlankingRule:
    """Rectangles (x0, y0, x1, y1 in pixels, end exclusive) known to hold burned-in text on images
    from one device; with such a rule an otherwise excluded object is blanked and exported."""

    manufacturer: str
    model: str
    rectangles: tuple[tuple[int, int, int, int], ...]

    def matches(self, manufacturer: str, model: str) -> bool:
        return (
            self.manufacturer.strip().casefold() == manufacturer.strip().casefold()
            and self.model.strip().casefold() == model.strip().casefold()
        )


@dataclass(frozen=True)
class Options:
    retain_patient_characteristics: bool = True
    retain_longitudinal_modified_dates: bool = True
    clean_descriptors: bool = True
    safe_private_tags: frozenset[tuple[int, str, int]] = field(default=DEFAULT_SAFE_PRIVATE_TAGS)
    blanking_rules: tuple[BlankingRule, ...] = ()
