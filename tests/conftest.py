"""Shared fixtures. Test helpers live beside the tests (``eventfiles``)."""
