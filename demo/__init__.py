"""Sample data shipped with usageflow: demo accounts, sample events, an example price book."""
