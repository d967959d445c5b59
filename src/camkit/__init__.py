"""camkit: infrastructure-as-code for city-wide video surveillance."""
__version__ = "0.1.0"
