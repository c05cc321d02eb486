"""Reporter: renders a synthesised draft as Markdown and PDF."""
