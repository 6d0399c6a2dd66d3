"""Lifelong learning: tasks learned one after another, with what each method protects and what each task loses."""
