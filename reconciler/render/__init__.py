"""Renderers turn a Plan into text for people (text, markdown) or machines (json)."""
