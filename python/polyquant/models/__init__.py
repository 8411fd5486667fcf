"""Model loading, the architecture registry, resident models and the fixture models."""
