"""Loading, cleaning, splitting and serving the marketplace data to torch."""
