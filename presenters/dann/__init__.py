"""Presenters of the domain-adaptation page."""
