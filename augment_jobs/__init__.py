"""Offline batch data augmentation platform: tabular, image, text and time-series datasets,
gated by Great Expectations, published as immutable versioned Parquet / WebDataset shards."""

__version__ = "0.3.0"
