from runsearch.cli import main

main()
