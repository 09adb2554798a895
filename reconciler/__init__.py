"""reconciler: BigCommerce customer-segment membership managed as code."""

__version__ = "0.1.0"
