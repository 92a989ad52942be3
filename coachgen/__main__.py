from coachgen.cli import main

main()
