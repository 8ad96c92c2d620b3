"""The labelled search set: queries over the Superstore catalogue with graded relevant ids
(`queries.yaml`), built by rules over product names (`rules.yaml`, `labels.py`), and the
metrics bench/search.py reports (nDCG@10, precision@3)."""
