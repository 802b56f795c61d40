"""Batch input and output: the hostile-input deal reader (JSON Lines, CSV, JSON,
Parquet), batch runs with their rejects, ledger writers, and atomic output files."""
