"""Reference apps the benchmark runs beside the generated one (not in any generated project)."""
