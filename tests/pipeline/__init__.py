"""Tests of the steploc pipeline stages and the Snakemake workflow (SYNTHETIC features only)."""
