"""One router per area of DESIGN.md's API."""
