"""The ``lineage ui`` process: imports what every explorer page needs (pandas, Arrow, the query
API) and then becomes Streamlit's own command line, so that the first tab of a fresh server does
not wait for those imports. The explorer's own modules are left to Streamlit (their caches need
its runtime)."""

from __future__ import annotations

import sys


def main() -> None:
    import pandas  # noqa: F401
    import pyarrow  # noqa: F401

    import lineage.api  # noqa: F401
    import lineage.query  # noqa: F401
    from streamlit.web import cli

    sys.argv = ["streamlit"] + sys.argv[1:]
    sys.exit(cli.main(prog_name="streamlit"))


if __name__ == "__main__":
    main()
