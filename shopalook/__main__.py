"""``python -m shopalook demo``: run the whole stack locally (see shopalook/demo.py)."""

import sys


def main() -> int:
    commands = {"demo"}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(
            "usage: python -m shopalook demo [--catalog DIR] [--sample N] [--port PORT]",
            file=sys.stderr,
        )
        return 2
    from shopalook.demo import run

    return run(sys.argv[2:])


if __name__ == "__main__":
    sys.exit(main())
