"""Offline batch data augmentation platform."""
