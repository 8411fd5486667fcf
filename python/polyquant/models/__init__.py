"""Model loading, structure discovery (and its optional registry of refinements), resident models and the fixture models."""
