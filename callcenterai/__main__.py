from callcenterai.cli import main

main()
