"""Evaluation of an augmentation: leak-free holdout split, downstream efficacy, privacy, report.

Library-level parts with no dependency on the pipeline; see docs/gate.md and docs/manifest.md for
the config keys and manifest fields they feed.
"""
