"""Presenters of the lifelong-learning page."""
