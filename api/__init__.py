"""The HTTP face of the search: FastAPI app, routes and the search service behind them."""
