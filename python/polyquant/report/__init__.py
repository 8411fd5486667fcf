"""Report figures: plain-data plot specs in, SVG and PNG files out (matplotlib, Agg backend)."""
