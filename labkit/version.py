"""labkit's version: what every video's provenance tag and watermark payload name."""
__version__ = "0.2.0"
