"""Pure pricing logic (docs/pricing.md): price book, rating, tiers, plans. No infrastructure here."""
