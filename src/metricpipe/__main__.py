from metricpipe.cli import main

main()
