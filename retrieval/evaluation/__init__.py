"""Offline evaluation: data sets, leave-last-out splits, full-ranking metrics, baselines."""
