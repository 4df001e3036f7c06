"""DICOM code with no Django imports: parsing and validating what arrives, synthetic studies."""
