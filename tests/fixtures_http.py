"""Fixtures for the http tests."""
