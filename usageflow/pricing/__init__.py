"""Pure pricing logic (pricing.md): price book, rating, tiers, plans. No infrastructure here."""
