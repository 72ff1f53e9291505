"""Thin Lambda entry points: parse, call one logic function, map the result."""
