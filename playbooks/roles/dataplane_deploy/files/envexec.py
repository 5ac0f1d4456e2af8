"""Run a command with the variables of a Docker-style env file (``NAME=value`` lines, no
quoting) added to its environment: how the process engine starts the data plane. A shell's
``source`` would mangle values such as the tenant config's JSON."""

import os
import sys


def main() -> None:
    env_file, argv = sys.argv[1], sys.argv[2:]
    env = dict(os.environ)
    with open(env_file, encoding="utf-8") as lines:
        for line in lines:
            line = line.rstrip("\n")
            if line and not line.startswith("#") and "=" in line:
                name, value = line.split("=", 1)
                env[name] = value
    os.execvpe(argv[0], argv, env)


if __name__ == "__main__":
    main()
