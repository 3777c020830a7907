"""Pure pricing logic, no infrastructure: the one production implementation of the billing math.

- `price_book`: prices, tiers, plans and discounts (the built-in book or a file).
- `rating`: the list cost of one event (done in the stream).
- `tiers`: the graduated volume tiers (tier weight, blended tier factor).
- `terms`: an account's plan fee, quota, limits and discounts; the daily token limit.
- `lines`: the invoice lines and total of an account-month, rounded to the fen.
- `money`: rounding to 0.01 half away from zero, exact decimals.

Alerts, reports and charts use these; the warehouse's SQL views compute the same invoices, and
the tests hold both against an independent oracle (tests/oracle/).
"""
