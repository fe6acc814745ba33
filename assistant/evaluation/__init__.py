"""Evaluation harness: classify a labelled dataset, score it at every digit level, compare with baselines."""
