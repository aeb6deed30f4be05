"""The web app: accounts, pages, uploads and the JSON API (``create_app``)."""
