"""Dashboard pages, run as scripts by st.navigation in streamlit_app.py.

Not named pages/: Streamlit serves a pages/ folder with its own navigation to a first visitor
who opens a deep link before the router has run, which breaks shared links.
"""
