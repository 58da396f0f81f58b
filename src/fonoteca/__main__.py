from fonoteca.cli import main

main()
