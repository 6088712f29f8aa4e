"""``python -m trioloop app.py``: see :mod:`trioloop._cli`."""

from trioloop._cli import main

if __name__ == "__main__":
    main()
