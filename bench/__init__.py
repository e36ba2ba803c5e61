"""The template's side-by-side HTTP benchmark (see bench/README.md)."""
