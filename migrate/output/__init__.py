"""Everything a person or a machine reads: rich and plain reports, JSON, SARIF, GitHub
annotations, Markdown/HTML, rule documentation and the interactive review. The only code
that prints."""
