from coachgen.cli import run

run()
