"""Query understanding: typos, spoken filters and suggestions, from the catalogue's own words."""
