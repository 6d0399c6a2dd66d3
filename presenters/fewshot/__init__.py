"""Presenters of the few-shot drawing page."""
