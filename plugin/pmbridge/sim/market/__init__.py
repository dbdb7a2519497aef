"""The market every account trades in: contracts and their filters, the seeded price model, public market data."""
