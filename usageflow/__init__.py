"""usageflow: usage aggregation and tiered billing for metered LLM APIs."""

__version__ = "0.1.0"
