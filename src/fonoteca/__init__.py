"""fonoteca: a show's whole history as a searchable archive of timestamped transcripts, with an LLM on top."""

__version__ = "0.1.0"
