"""The presenters: what the pages show, made from what the engines stored, free of Streamlit so it is tested alone."""
