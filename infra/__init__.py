"""The CDK app that provisions the platform on AWS (see DESIGN.md, Layout)."""
