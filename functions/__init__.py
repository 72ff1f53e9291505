"""Everything that runs in AWS Lambda, as one package (see DESIGN.md, Layout)."""
