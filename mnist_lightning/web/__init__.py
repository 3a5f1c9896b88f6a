"""The web app of `python -m mnist_lightning.serve`: the HTTP API, the safe reading of uploads, the page."""
