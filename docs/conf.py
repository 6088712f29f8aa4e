"""Sphinx configuration for trioloop's documentation (built by scripts/docs.sh)."""

from __future__ import annotations

import trioloop

project = "trioloop"
author = "trioloop developers"
copyright = "trioloop developers"
version = release = trioloop.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinxcontrib_trio",  # async functions and context managers in autodoc
    "myst_parser",  # the Markdown pages (performance, reliability)
]
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
exclude_patterns = ["_build", "requirements.txt"]
root_doc = "index"

autodoc_member_order = "bysource"
autodoc_typehints = "description"
default_role = "py:obj"
myst_heading_anchors = 3

html_theme = "sphinx_rtd_theme"
html_title = f"trioloop {release}"
html_static_path = ["_static"]
html_css_files = ["wrap-tables.css"]
