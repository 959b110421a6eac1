"""The installable web app: manifest, service worker, offline page."""
