"""usageflow: usage aggregation and tiered billing for metered LLM APIs."""

__version__ = "0.2.0"
