"""DynamoDB access: the only package that talks to DynamoDB (DESIGN.md, rules of the house)."""
