"""Anomaly detection: robust median/MAD and STL scores, and a memory-leak detector on
process RSS (pure core), with the Faust adapter in ``stage``."""
