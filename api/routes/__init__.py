"""Thin route modules: each translates HTTP to a ``SearchService`` call and back."""
