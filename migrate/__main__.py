from migrate import main

main()
