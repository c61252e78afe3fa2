"""`python -m soma_console`: the same command line as `soma-console`."""

from soma_console.cli import main

if __name__ == "__main__":
    main()
