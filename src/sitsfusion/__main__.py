from sitsfusion.cli import main

main()
