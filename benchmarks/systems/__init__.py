"""One module per system under test; each runs as its own process (``python -m ...``)."""
