from usageflow.cli.main import main

main()
