"""Dashboard pages (run by st.navigation as scripts; the package marker only serves mypy)."""
