"""alpr-unit: firmware for in-vehicle automatic licence plate reader units."""

__version__ = "0.1.0"
