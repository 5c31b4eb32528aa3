import sys

if __name__ == "__main__":   # guarded: spawned worker processes import this module again (and need no torch)
    from .run import main

    sys.exit(main())
