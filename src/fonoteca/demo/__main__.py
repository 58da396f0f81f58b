from fonoteca.demo import main

main()
