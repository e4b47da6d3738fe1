"""Package data: the rating sheet template, script and style, inlined into one HTML file."""
