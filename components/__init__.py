"""Streamlit-only building blocks shared by the pages."""
