import sys

# Imports stay inside the guard: the load generator's processes are spawned and re-import this module.
if __name__ == "__main__":
    from bench.cli import main

    sys.exit(main())
